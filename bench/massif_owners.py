#!/usr/bin/python3
"""Where the heap of idle sessions goes, from a massif snapshot (run by hand).

    cat > /tmp/vg.sh <<'X'
    #!/bin/sh
    exec valgrind --tool=massif --vgdb=yes --threshold=0.01 --depth=40 \
         --massif-out-file=/tmp/massif.%p /path/to/build/postern "$@"
    X
    /usr/bin/python3 bench/idle_sessions.py --bin /tmp/vg.sh -n 300 --hold 60 &
    vgdb --pid=PID detailed_snapshot /tmp/snap      # PID: printed by the bench
    /usr/bin/python3 bench/massif_owners.py /tmp/snap 300

Groups the snapshot's live bytes (requested sizes, without malloc's own
overhead) by owner and divides by N.  Debian's libssl has no symbols
for its internal functions, so OpenSSL's share is split by the public
function on the stack (SSL_new, EVP_CipherInit_ex, EVP_PKEY_*).
"""
import collections
import re
import sys


def classify(path):
    txt = " | ".join(path)
    if "server_new" in txt or "ERR_load" in txt or "serve_cmd.c:4" in txt or "gen_new" in txt: return "static (once per process)"
    owner = None
    for f in path[1:]:
        if "libcrypto" in f or "libc.so" in f: continue
        owner = f; break
    if owner is None: return "other"
    if "libevent" in owner or "bufferevent" in owner: return "libevent: bufferevent_openssl, evbuffers, callbacks"
    if "(session.c" in owner or "(tls.c" in owner or "(listener.c" in owner: return "ours: " + owner.split(": ",1)[1]
    if "SSL_new" in txt: return "SSL_new: ssl_st, CERT copy, verify param, lock"
    if "BIO_new" in txt: return "socket BIO"
    if "EVP_CipherInit" in txt: return "record cipher contexts (EVP_CipherInit)"
    if "EVP_PKEY" in txt: return "key shares (EVP_PKEY x2)"
    if "EVP_MD_CTX" in txt or "EVP_Digest" in txt: return "handshake digest (EVP_MD_CTX)"
    if "libssl" in owner: return "other libssl: " + owner.split(": ",1)[1][:12]
    return "other: " + owner[:60]


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    cats = collections.Counter()
    stack = []
    for line in open(path):
        m = re.match(r"^( *)n(\d+): (\d+) (.*)$", line.rstrip("\n"))
        if not m:
            continue
        depth, nch, size = len(m.group(1)), int(m.group(2)), int(m.group(3))
        stack = stack[:depth] + [m.group(4)]
        if nch == 0 and depth > 0:
            cats[classify(stack)] += size
    for k, v in cats.most_common():
        if v / n >= 16:
            print(f"{v / n:8.0f}  {k}")
    print(f"{sum(cats.values()) / n:8.0f}  total (requested bytes / {n})")


if __name__ == "__main__":
    main()
