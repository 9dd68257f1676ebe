"""`postern passwd` driven as an admin would: add, check, del, list on a
users file named by a real config file, its on-disk form (no password in
any encoding, mode 0600), concurrent adds, and its error messages."""
import base64
import binascii
import os
import pathlib
import pwd
import stat
import subprocess
import tempfile

import pytest

from conftest import PASSWORD, POSTERN, USER, binary_for_user, postern

PW = "correct horse battery staple"


@pytest.fixture
def conf(tmp_path):
    """A config whose credentials are `file:users`, relative to its folder."""
    c = tmp_path / "postern.conf"
    c.write_text("hostname = mail.example.test\ncredentials = file:users\n")
    return c


def pw(conf, *args, input=None, **kw):
    return postern("passwd", "-c", str(conf), *args, input=input, **kw)


@pytest.fixture
def as_nobody():
    """subprocess keywords and a postern binary to run as nobody when
    we are root (root writes anywhere), else as ourselves.  The binary
    is a copy that nobody can reach (issue 12 item 12: build/postern
    in a checkout under /root is out of its reach)."""
    if os.geteuid() != 0:
        yield {"binary": POSTERN}
        return
    with binary_for_user("nobody") as exe:
        yield {"user": "nobody", "group": pwd.getpwnam("nobody").pw_gid, "binary": exe}


def err(r):
    return r.stderr.decode(errors="replace")


def test_add_then_check(conf):
    r = pw(conf, "add", "alice@example.test", input=PW + "\n")
    assert r.returncode == 0, err(r)
    r = pw(conf, "check", "alice@example.test", input=PW + "\n")
    assert r.returncode == 0, err(r)
    r = pw(conf, "check", "alice@example.test", input="correct horse battery stapl\n")
    assert r.returncode == 1
    assert "wrong password" in err(r)
    r = pw(conf, "check", "alice@example.test", input=PW.upper() + "\n")
    assert r.returncode == 1
    r = pw(conf, "check", "bob@example.test", input=PW + "\n")
    assert r.returncode == 1
    assert "unknown user 'bob@example.test'" in err(r)


def test_password_line_endings(conf):
    """Only the trailing LF or CRLF is dropped: inner and leading spaces count."""
    assert pw(conf, "add", "crlf", input=" p w \r\n").returncode == 0
    assert pw(conf, "check", "crlf", input=" p w \n").returncode == 0
    assert pw(conf, "check", "crlf", input=" p w ").returncode == 0     # no newline at EOF
    assert pw(conf, "check", "crlf", input="p w\n").returncode == 1
    assert pw(conf, "check", "crlf", input=" p w \r\r\n").returncode == 1
    # Only the first line is the password.
    assert pw(conf, "check", "crlf", input=" p w \nsecond line\n").returncode == 0


def test_add_existing_user_fails(conf):
    assert pw(conf, "add", "alice", input="one\n").returncode == 0
    r = pw(conf, "add", "alice", input="two\n")
    assert r.returncode == 1
    assert "user 'alice' already exists" in err(r)
    assert str(conf.parent / "users") in err(r)
    # The first password still works, the second does not.
    assert pw(conf, "check", "alice", input="one\n").returncode == 0
    assert pw(conf, "check", "alice", input="two\n").returncode == 1


def test_empty_password_refused(conf):
    r = pw(conf, "add", "alice", input="\n")
    assert r.returncode == 1
    assert "empty password" in err(r)
    r = pw(conf, "add", "alice", input="")
    assert r.returncode == 1
    assert "empty password" in err(r)
    assert not (conf.parent / "users").exists() or b"alice" not in (conf.parent / "users").read_bytes()


def test_del_and_list(conf):
    for u in ("alice", "bob", "carol"):
        assert pw(conf, "add", u, input=u + "-pw\n").returncode == 0
    r = pw(conf, "list")
    assert r.returncode == 0, err(r)
    assert r.stdout.decode().split() == ["alice", "bob", "carol"]
    r = pw(conf, "del", "bob")
    assert r.returncode == 0, err(r)
    assert pw(conf, "list").stdout.decode().split() == ["alice", "carol"]
    r = pw(conf, "check", "bob", input="bob-pw\n")
    assert r.returncode == 1 and "unknown user" in err(r)
    assert pw(conf, "check", "carol", input="carol-pw\n").returncode == 0
    r = pw(conf, "del", "bob")
    assert r.returncode == 1
    assert "unknown user 'bob'" in err(r)


def test_user_names_saslprep_and_refusals(conf):
    # U+2168 ROMAN NUMERAL NINE is stored as "IX" (RFC 4013 section 3).
    assert pw(conf, "add", "\u2168", input="nine\n").returncode == 0
    assert pw(conf, "list").stdout.decode().split() == ["IX"]
    assert pw(conf, "check", "IX", input="nine\n").returncode == 0
    for bad, why in (("a:b", "':' in user name"), ("", "empty user name"),
                     ("#x", "starts with '#'"), ("a\tb", "control character")):
        r = pw(conf, "add", bad, input="x\n")
        assert r.returncode == 1, bad
        assert why in err(r), err(r)
    r = pw(conf, "add", "a" * 256, input="x\n")
    assert r.returncode == 1 and "longer than 255 bytes" in err(r)


def test_file_holds_no_password(conf):
    secret = "S3cret-Passw0rd-\u00e9t\u00e9"
    assert pw(conf, "add", "alice", input=secret + "\n").returncode == 0
    users = conf.parent / "users"
    data = users.read_bytes()
    raw = secret.encode()
    forms = {
        "plain": raw,
        "base64": base64.b64encode(raw),
        "base64 unpadded": base64.b64encode(raw).rstrip(b"="),
        "hex": binascii.hexlify(raw),
        "HEX": binascii.hexlify(raw).upper(),
    }
    for name, form in forms.items():
        assert form not in data, f"password found in the file as {name}"
        # Also case-insensitively, for the forms where case does not matter.
        if name in ("plain", "hex"):
            assert form.lower() not in data.lower(), name
    # Every secret kind is there, derived.
    text = data.decode()
    assert text.startswith("# postern-users v1\n")
    line = [l for l in text.splitlines() if l.startswith("alice:")][0]
    for scheme in ("{CRYPT}$y$", "{SCRAM-SHA-1}4096,", "{SCRAM-SHA-256}4096,", "{CRAM-MD5}"):
        assert scheme in line
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    # The lock file beside it is not readable by others either.
    assert stat.S_IMODE((conf.parent / "users.lock").stat().st_mode) == 0o600
    assert not list(conf.parent.glob("users.tmp.*"))


def test_twenty_concurrent_adds(conf):
    procs = []
    try:
        for i in range(20):
            p = subprocess.Popen([POSTERN, "passwd", "-c", str(conf), "add", f"user{i:02d}"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            procs.append(p)
        # Release all 20 at once: each reads its password, derives the
        # secrets, then races the others to read-modify-write the file.
        for i, p in enumerate(procs):
            p.stdin.write(f"pw-{i}\n".encode())
        for p in procs:
            p.stdin.close()
        for p in procs:
            p.wait(timeout=120)     # a few short lines of output: no pipe fills
            assert p.returncode == 0, p.stderr.read().decode()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
            for f in (p.stdin, p.stdout, p.stderr):
                f.close()
    r = pw(conf, "list")
    assert r.returncode == 0, err(r)
    assert sorted(r.stdout.decode().split()) == [f"user{i:02d}" for i in range(20)]
    for i in range(20):
        r = pw(conf, "check", f"user{i:02d}", input=f"pw-{i}\n")
        assert r.returncode == 0, (i, err(r))
    assert pw(conf, "check", "user00", input="pw-1\n").returncode == 1
    assert not list(conf.parent.glob("users.tmp.*"))


def test_malformed_line_names_file_and_line(conf):
    assert pw(conf, "add", "alice", input="a\n").returncode == 0
    users = conf.parent / "users"
    with open(users, "a") as f:
        f.write("# a comment\nbob:{SCRAM-SHA-1}1000,QSXCR+Q6sek8bf92,"
                "6dlGYMOdZcOPutkcNY8U2g7vK9Y=,D+CSWLOshSulAsxiupA+qs2/fTE=\n")
    want = f"{users}:4: {{SCRAM-SHA-1}}: iteration count 1000 is below 4096"
    r = pw(conf, "list")
    assert r.returncode == 1 and want in err(r), err(r)
    r = pw(conf, "check", "alice", input="a\n")
    assert r.returncode == 2 and want in err(r), err(r)
    r = pw(conf, "add", "carol", input="c\n")
    assert r.returncode == 1 and want in err(r), err(r)
    r = pw(conf, "del", "alice")
    assert r.returncode == 1 and want in err(r), err(r)
    # The broken file was left as it was.
    assert b"bob:" in users.read_bytes() and b"carol" not in users.read_bytes()

    users.write_text("alice:{CRAM-MD5}00\n")
    r = pw(conf, "list")
    assert r.returncode == 1
    assert f"{users}:1: not a postern users file" in err(r)


def test_unwritable_folder(as_nobody):
    """As an unprivileged user (root would write anyway), adding to a
    users file in a read-only folder fails and says which file and why."""
    top = pathlib.Path(tempfile.mkdtemp(prefix="postern-ro-"))
    try:
        os.chmod(top, 0o755)
        ro = top / "ro"
        ro.mkdir()
        conf = ro / "postern.conf"
        conf.write_text("credentials = file:users\n")
        os.chmod(conf, 0o644)
        os.chmod(ro, 0o555)
        kw = as_nobody
        r = pw(conf, "add", "alice", input="pw\n", **kw)
        assert r.returncode == 1
        assert f"{ro}/users.lock: cannot create lock file: Permission denied" in err(r), err(r)
        r = pw(conf, "check", "alice", input="pw\n", **kw)
        assert r.returncode == 2
        assert f"{ro}/users: No such file or directory" in err(r), err(r)
    finally:
        os.chmod(top / "ro", 0o755)
        for p in sorted(top.rglob("*"), reverse=True):
            p.unlink() if not p.is_dir() else p.rmdir()
        top.rmdir()


def test_lock_symlink_is_refused_not_followed(conf):
    """Regression (issue 12 item 9): PATH.lock was opened without
    O_NOFOLLOW, so a symbolic link planted there made `postern passwd`
    (often root) create the file it points to.  Now it refuses, names the
    lock, and neither the target nor the users file appears."""
    target = conf.parent / "elsewhere" / "created-by-passwd"
    target.parent.mkdir()
    lock = conf.parent / "users.lock"
    lock.symlink_to(target)
    r = pw(conf, "add", "alice", input="pw\n")
    assert r.returncode == 1
    assert f"{lock}: is a symbolic link; refusing to follow it (remove it)" in err(r), err(r)
    assert not target.exists()
    assert not (conf.parent / "users").exists()
    # Once the link is gone, the add works.
    lock.unlink()
    r = pw(conf, "add", "alice", input="pw\n")
    assert r.returncode == 0, err(r)
    assert stat.S_ISREG(os.lstat(lock).st_mode)


def test_config_paths(tmp_path):
    """credentials relative to the config's folder whatever the cwd;
    "users" beside the config when the key is absent; a missing config
    is named."""
    d = tmp_path / "etc"
    d.mkdir()
    conf = d / "postern.conf"
    conf.write_text("hostname = x\n")
    r = postern("passwd", "-c", str(conf), "add", "alice", input="pw\n", cwd="/")
    assert r.returncode == 0, err(r)
    assert (d / "users").exists()
    conf.write_text("credentials = file:db/users\n")
    (d / "db").mkdir()
    r = postern("passwd", "-c", str(conf), "add", "bob", input="pw\n", cwd="/")
    assert r.returncode == 0, err(r)
    assert b"bob:" in (d / "db" / "users").read_bytes()
    r = postern("passwd", "-c", str(d / "nope.conf"), "list")
    assert r.returncode == 1
    assert f"{d}/nope.conf: No such file or directory" in err(r)
    r = postern("passwd", "-c", str(d / "nope.conf"), "check", "bob", input="pw\n")
    assert r.returncode == 2
    r = postern("passwd", "-c", str(conf), "frobnicate")
    assert r.returncode == 1 and "unknown subcommand" in err(r)


def _tty_run(conf, args, lines, binary=POSTERN, **kw):
    """Runs postern passwd with a pseudo-terminal as stdin; answers each
    prompt seen on stderr with the next line.  Returns (rc, stderr, what
    the terminal echoed back)."""
    import pty
    import select
    import time
    master, slave = pty.openpty()
    p = subprocess.Popen([binary, "passwd", "-c", str(conf), *args], stdin=slave,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    os.close(slave)
    errout, echoed = b"", b""
    try:
        deadline = time.monotonic() + 60
        answered = 0
        while time.monotonic() < deadline and p.poll() is None:
            r, _, _ = select.select([p.stderr, master], [], [], 0.2)
            if master in r:
                try:
                    echoed += os.read(master, 1024)
                except OSError:
                    pass
            if p.stderr in r:
                chunk = os.read(p.stderr.fileno(), 1024)
                errout += chunk
                while answered < len(lines) and errout.count(b"assword") > answered:
                    os.write(master, lines[answered].encode() + b"\n")
                    answered += 1
        p.wait(timeout=30)
        errout += p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
        p.stdout.close()
        p.stderr.close()
        os.close(master)
    return p.returncode, errout.decode(errors="replace"), echoed


def test_terminal_prompts_twice_without_echo(conf):
    rc, e, echoed = _tty_run(conf, ["add", "alice"], ["tty-secret", "tty-secret"])
    assert rc == 0, e
    assert "Password for alice: " in e and "Retype password: " in e
    assert b"tty-secret" not in echoed
    rc, e, _ = _tty_run(conf, ["check", "alice"], ["tty-secret"])
    assert rc == 0, e
    assert e.count("assword") == 1        # check asks once
    rc, e, _ = _tty_run(conf, ["add", "bob"], ["one", "two"])
    assert rc == 1
    assert "the two passwords differ" in e
    assert pw(conf, "list").stdout.decode().split() == ["alice"]


def test_terminal_refusals_come_before_the_prompt(conf):
    """Regression: a bad user name, an existing user and a store that
    cannot be written were reported only after the password had been
    typed twice.  Now they are said first, and nothing is asked."""
    assert pw(conf, "add", "alice", input="a\n").returncode == 0
    for user, want in [("a:b", "user 'a:b': ':' in user name"),
                       ("alice", f"{conf.parent}/users: user 'alice' already exists")]:
        rc, e, _ = _tty_run(conf, ["add", user], ["pw", "pw"])
        assert rc == 1, e
        assert want in e, e
        assert "assword" not in e, e


def test_terminal_unwritable_store_before_the_prompt(as_nobody):
    """As nobody (root writes anyway): a folder without write access is
    named before the prompt, both when the lock file cannot be created
    and when it exists but the users file could not be renamed into
    place."""
    top = pathlib.Path(tempfile.mkdtemp(prefix="postern-ro-"))
    os.chmod(top, 0o755)
    kw = as_nobody
    ro = top / "ro"
    ro.mkdir()
    conf = ro / "postern.conf"
    conf.write_text("credentials = file:users\n")
    os.chmod(conf, 0o644)
    try:
        os.chmod(ro, 0o555)
        rc, e, _ = _tty_run(conf, ["add", "alice"], ["pw", "pw"], **kw)
        assert rc == 1, e
        assert f"{ro}/users.lock: cannot create lock file: Permission denied" in e, e
        assert "assword" not in e, e
        os.chmod(ro, 0o755)
        lock = ro / "users.lock"
        lock.write_bytes(b"")
        os.chmod(lock, 0o666)
        os.chmod(ro, 0o555)
        rc, e, _ = _tty_run(conf, ["add", "alice"], ["pw", "pw"], **kw)
        assert rc == 1, e
        assert f"{ro}: cannot write in this folder ({ro}/users is replaced by a rename)" in e, e
        assert "Permission denied" in e and "assword" not in e, e
        assert not (ro / "users").exists()
    finally:
        os.chmod(ro, 0o755)
        for p in sorted(top.rglob("*"), reverse=True):
            p.unlink() if not p.is_dir() else p.rmdir()
        top.rmdir()


def test_check_says_why_a_password_cannot_match(conf):
    """A password SASLprep refuses (a control character) could never have
    been stored: check says so instead of a bare 'wrong password'."""
    assert pw(conf, "add", "alice", input="pa ss\n").returncode == 0
    r = pw(conf, "check", "alice", input="pa\x07ss\n")
    assert r.returncode == 1
    assert ("user 'alice': wrong password (no stored password can match: "
            "SASLprep: prohibited character)") in err(r), err(r)
    r = pw(conf, "add", "bob", input="pa\x07ss\n")
    assert r.returncode == 1
    assert "user 'bob': password refused: SASLprep: prohibited character" in err(r), err(r)
    r = pw(conf, "check", "alice", input="pa ss\n")
    assert r.returncode == 0, err(r)


def test_missing_subcommand(conf):
    r = pw(conf)
    assert r.returncode == 1
    assert "postern passwd: missing subcommand" in err(r), err(r)
    assert "usage: postern passwd" in err(r)


def _smtp_login(server, user, password, mech):
    """Python's smtplib over implicit TLS: True when AUTH succeeds."""
    import smtplib
    import ssl
    ctx = ssl.create_default_context(cafile=str(server.pki.ca))
    with smtplib.SMTP_SSL(server.host, server.submissions, timeout=20, context=ctx) as s:
        s.ehlo("client.example.test")
        s.user, s.password = user, password
        fn = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login,
              "CRAM-MD5": s.auth_cram_md5}[mech]
        try:
            s.auth(mech, fn)
            return True
        except smtplib.SMTPAuthenticationError:
            return False


@pytest.mark.parametrize("mech", ["PLAIN", "CRAM-MD5"])
def test_running_server_sees_add_and_del(server, mech):
    """The store re-reads the file when it changes: a user added or
    deleted with `postern passwd` counts at once, with no restart."""
    late = "late@example.test"
    assert not _smtp_login(server, late, "late-pw", mech)
    r = pw(server.conf, "add", late, input="late-pw\n")
    assert r.returncode == 0, err(r)
    assert _smtp_login(server, late, "late-pw", mech)
    assert not _smtp_login(server, late, "wrong-pw", mech)
    r = pw(server.conf, "del", late)
    assert r.returncode == 0, err(r)
    assert not _smtp_login(server, late, "late-pw", mech)
    # The user the fixture added before the start is untouched.
    assert _smtp_login(server, USER, PASSWORD, mech)
    assert server.proc.poll() is None


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_running_server_password_change_beats_login_cache(server, mech):
    """A right PLAIN/LOGIN password is cached after it succeeds
    (store_file_cache.c), yet a wrong one is still refused, and a new
    password set with `postern passwd` counts at the very next login:
    the old one is refused at once, with no restart."""
    for _ in range(3):
        assert _smtp_login(server, USER, PASSWORD, mech)
    assert not _smtp_login(server, USER, PASSWORD + "x", mech)
    assert _smtp_login(server, USER, PASSWORD, mech)
    r = pw(server.conf, "del", USER)
    assert r.returncode == 0, err(r)
    r = pw(server.conf, "add", USER, input="a brand new password\n")
    assert r.returncode == 0, err(r)
    assert not _smtp_login(server, USER, PASSWORD, mech)
    assert _smtp_login(server, USER, "a brand new password", mech)
    assert _smtp_login(server, USER, "a brand new password", mech)
    r = pw(server.conf, "del", USER)
    assert r.returncode == 0, err(r)
    assert not _smtp_login(server, USER, "a brand new password", mech)
    assert server.proc.poll() is None


def test_config_that_is_not_a_file_needs_an_absolute_store(tmp_path):
    """`-c /dev/null` used to put the default store "users" beside it, in
    /dev; a relative store path needs a config file's folder.  An absolute
    one works with any config."""
    r = postern("passwd", "-c", "/dev/null", "add", "u" + os.urandom(3).hex(),
                input=PASSWORD + "\n", cwd=str(tmp_path))
    assert r.returncode == 1, err(r)
    assert "/dev/null is not a regular file" in err(r) and "file:users" in err(r), err(r)
    assert not os.path.exists("/dev/users")
    store = tmp_path / "abs-users"
    rd, wr = os.pipe()
    os.write(wr, f"credentials = file:{store}\n".encode())
    os.close(wr)
    try:
        r = postern("passwd", "-c", f"/dev/fd/{rd}", "add", "bob", input=PASSWORD + "\n",
                    pass_fds=(rd,))
    finally:
        os.close(rd)
    assert r.returncode == 0, err(r)
    assert "bob" in store.read_text()
