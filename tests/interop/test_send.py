"""`postern send` as a sendmail/msmtp drop-in, against `postern serve`
(every mechanism, over STARTTLS and implicit TLS) and against small
scripted fake servers for what a real server will not do on purpose: no
STARTTLS offered, PLAIN only on a clear connection, bytes injected behind
the 220 to STARTTLS, recipients refused.

Every success case has its failing twin: wrong password (EX_NOPERM, the
message names server, port, mechanism and user), a certificate the trust
file does not cover, a fingerprint that does not match."""
import hashlib
import os
import ssl

import pytest

from clients import (REMOTE_RCPT, SENDER, WRONG_PASSWORD, assert_not_spooled, assert_spooled,
                     describe, message, output, queue_ids, queue_show, header, tag)
from conftest import PASSWORD, USER, postern

EX_USAGE, EX_DATAERR, EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 64, 65, 69, 75, 77, 78
MECHS = ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]


def write_conf(path, **kv):
    """An msmtprc with one account "test" (the default) from kv."""
    lines = ["# written by test_send.py", "defaults", "account test"]
    for k, v in kv.items():
        if v is not None:
            lines.append(f"{k} {v}")
    lines += ["account default : test", ""]
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def conf_for(tmp_path, server, mode, mech, password=PASSWORD, **extra):
    port = server.submission if mode == "starttls" else server.submissions
    kv = dict(host="127.0.0.1", port=port, tls="on",
              tls_starttls="on" if mode == "starttls" else "off",
              tls_trust_file=server.pki.ca, auth=mech.lower(), user=USER,
              password=password, **{"from": SENDER})
    kv.update(extra)
    return write_conf(tmp_path / f"conf-{mode}-{mech}", **kv)


def send(conf, *args, input=None, env=None):
    return postern("send", "-C", str(conf), *args, input=input, env=env, timeout=60)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
@pytest.mark.parametrize("mech", MECHS)
def test_send_delivers(server, tmp_path, mode, mech):
    conf = conf_for(tmp_path, server, mode, mech)
    before = queue_ids(server)
    mark = tag()
    # LF line ends, as a Unix file has them: send normalises to CRLF.
    r = send(conf, "-v", REMOTE_RCPT, input=message(mark, crlf=False))
    assert r.returncode == 0, describe(r)
    assert f"AUTH {mech}" in output(r), describe(r)
    assert_spooled(server, before, mark, mech=mech)
    if mech in ("PLAIN", "LOGIN"):
        # -v masks what carries the password
        assert PASSWORD not in output(r)
        assert "********" in output(r), describe(r)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
@pytest.mark.parametrize("mech", MECHS)
def test_send_wrong_password(server, tmp_path, mode, mech):
    conf = conf_for(tmp_path, server, mode, mech, password=f'"{WRONG_PASSWORD}"')
    before = queue_ids(server)
    r = send(conf, "-v", REMOTE_RCPT, input=message(tag()))
    assert r.returncode == EX_NOPERM, describe(r)
    port = server.submission if mode == "starttls" else server.submissions
    err = r.stderr.decode()
    last = err.strip().splitlines()[-1]
    assert f"127.0.0.1:{port}" in last and mech in last and USER in last, describe(r)
    assert "535" in last, describe(r)
    # 535 stops: no second mechanism is tried with the same credentials
    assert err.count("--> AUTH ") == 1, describe(r)
    assert_not_spooled(server, before)


def test_send_auth_on_picks_strongest(server, tmp_path):
    conf = conf_for(tmp_path, server, "starttls", "on")
    before = queue_ids(server)
    mark = tag()
    r = send(conf, "-v", REMOTE_RCPT, input=message(mark))
    assert r.returncode == 0, describe(r)
    assert "--> AUTH SCRAM-SHA-256 " in output(r), describe(r)
    assert_spooled(server, before, mark, mech="SCRAM-SHA-256")


def test_send_untrusted_certificate(server, tmp_path):
    conf = conf_for(tmp_path, server, "starttls", "plain", tls_trust_file=server.pki.other_ca)
    before = queue_ids(server)
    r = send(conf, "-v", REMOTE_RCPT, input=message(tag()))
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    err = r.stderr.decode()
    assert "certificate verification failed" in err and "local issuer" in err, describe(r)
    assert f"127.0.0.1:{server.submission}" in err, describe(r)
    assert "--> AUTH" not in err, describe(r)
    assert_not_spooled(server, before)
    # tls_certcheck off is the (only) way around it
    conf = conf_for(tmp_path, server, "starttls", "plain", tls_trust_file=server.pki.other_ca,
                    tls_certcheck="off")
    mark = tag()
    r = send(conf, REMOTE_RCPT, input=message(mark))
    assert r.returncode == 0, describe(r)
    assert_spooled(server, before, mark)


def cert_sha256(path):
    der = ssl.PEM_cert_to_DER_cert(open(path).read())
    return hashlib.sha256(der).hexdigest()


def test_send_fingerprint_pin(server, tmp_path):
    fp = cert_sha256(server.pki.cert)
    colons = ":".join(fp[i:i + 2] for i in range(0, 64, 2)).upper()
    before = queue_ids(server)
    # a matching pin works even with a trust file that does not cover the cert
    conf = conf_for(tmp_path, server, "tls", "plain", tls_trust_file=server.pki.other_ca,
                    tls_fingerprint=colons)
    mark = tag()
    r = send(conf, REMOTE_RCPT, input=message(mark))
    assert r.returncode == 0, describe(r)
    assert_spooled(server, before, mark)
    before = queue_ids(server)
    wrong = ("00" if fp[:2] != "00" else "11") + fp[2:]
    conf = conf_for(tmp_path, server, "tls", "plain", tls_fingerprint=wrong)
    r = send(conf, REMOTE_RCPT, input=message(tag()))
    assert r.returncode == EX_UNAVAILABLE, describe(r)
    assert "tls_fingerprint" in r.stderr.decode(), describe(r)
    assert_not_spooled(server, before)


def test_send_read_recipients_removes_bcc(server, tmp_path):
    conf = conf_for(tmp_path, server, "starttls", "scram-sha-256")
    before = queue_ids(server)
    mark = tag()
    msg = (f"From: Alice <{SENDER}>\nTo: \"Bob, the builder\" <bob@elsewhere.test>,\n"
           f" carol@elsewhere.test (Carol)\nCc: undisclosed:;\nBcc: dave@elsewhere.test\n"
           f"Subject: {mark}\n\nBody of {mark}.\n")
    r = send(conf, "-t", "-i", input=msg)
    assert r.returncode == 0, describe(r)
    new = [i for i in queue_ids(server) if i not in before]
    assert len(new) == 1
    env, content = queue_show(server, new[0])
    rcpts = sorted(v.strip("<>") for k in ("rcpt", "rcpt_to", "recipient", "to") for v in env.get(k, []))
    assert rcpts == ["bob@elsewhere.test", "carol@elsewhere.test", "dave@elsewhere.test"], env
    assert header(content, "Bcc") is None and "dave@" not in content, content
    assert mark in header(content, "Subject")
    assert header(content, "Date") is not None    # added when missing


def test_send_usage_and_config_errors(tmp_path):
    conf = write_conf(tmp_path / "c", host="127.0.0.1")
    r = send(conf, "-bs")
    assert r.returncode == EX_USAGE and b"-bs is not supported" in r.stderr, describe(r)
    bad = tmp_path / "bad"
    bad.write_text("account x\nhost h\nfrobnicate yes\n")
    r = send(bad, "a@b.test", input="x\n")
    assert r.returncode == EX_CONFIG, describe(r)
    assert f"{bad}:3: unknown command 'frobnicate'" in r.stderr.decode(), describe(r)
    r = send(conf, input="Subject: x\n\nno recipients\n", env={**os.environ, "HOME": str(tmp_path)})
    assert r.returncode in (EX_DATAERR, EX_CONFIG), describe(r)
    r = send(conf, "-f", "a@b.test", "not an address@x", input="x\n")
    assert r.returncode == EX_DATAERR, describe(r)


def test_send_unreachable_is_tempfail(tmp_path):
    from conftest import free_port
    conf = write_conf(tmp_path / "c", host="127.0.0.1", port=free_port(), tls="off",
                      **{"from": SENDER})
    r = send(conf, REMOTE_RCPT, input=message(tag()))
    assert r.returncode == EX_TEMPFAIL, describe(r)
    assert "127.0.0.1:" in r.stderr.decode() and "connect" in r.stderr.decode(), describe(r)


def test_send_password_file_readable_by_others_refused(server, tmp_path):
    """As msmtp: a config of one's own holding a password that others can
    read is refused (EX_CONFIG, nothing sent), not warned about on every
    message; at 0600 the same file sends silently (Emacs takes any stderr
    output for a failure)."""
    conf = conf_for(tmp_path, server, "starttls", "plain")
    conf.chmod(0o644)
    before = server.queue("list").stdout
    r = send(conf, REMOTE_RCPT, input=message(tag()))
    assert r.returncode == EX_CONFIG, describe(r)
    assert (f"{conf}: contains a password and therefore must have no more than user "
            "read/write permissions") in r.stderr.decode(), describe(r)
    assert server.queue("list").stdout == before
    conf.chmod(0o600)
    r = send(conf, REMOTE_RCPT, input=message(tag()))
    assert r.returncode == 0, describe(r)
    assert r.stderr.decode() == "", describe(r)


def test_send_netrc_password(server, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text(
        f"machine 127.0.0.1 login someone-else password nope\n"
        f"machine 127.0.0.1 login {USER} password \"{PASSWORD}\" port {server.submission}\n")
    (home / ".netrc").chmod(0o600)
    conf = conf_for(tmp_path, server, "starttls", "cram-md5", password=None)
    before = queue_ids(server)
    mark = tag()
    r = send(conf, REMOTE_RCPT, input=message(mark), env={**os.environ, "HOME": str(home)})
    assert r.returncode == 0, describe(r)
    assert_spooled(server, before, mark, mech="CRAM-MD5")


def test_send_passwordeval(server, tmp_path):
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    conf = conf_for(tmp_path, server, "tls", "scram-sha-1", password=None,
                    passwordeval=f'"cat {pw}"')
    before = queue_ids(server)
    mark = tag()
    r = send(conf, REMOTE_RCPT, input=message(mark))
    assert r.returncode == 0, describe(r)
    assert_spooled(server, before, mark, mech="SCRAM-SHA-1")
