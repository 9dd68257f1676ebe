"""`postern serve --check` and start-up validation: every failure is one
line naming what is wrong, exit code 1, and nothing listens."""
import socket

from conftest import PASSWORD, USER, PosternServer, postern


def check(s):
    r = postern("serve", "-c", str(s.conf), "--check")
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def make(tmp_path, pki, extra=""):
    s = PosternServer(tmp_path / "srv", pki, extra_conf=extra)
    s.add_user(USER, PASSWORD)
    return s


def line_of(s, key):
    """The line number of key's first line in s's config."""
    lines = [ln.split("=")[0].strip() for ln in s.conf.read_text().splitlines()]
    return lines.index(key) + 1


def test_check_ok(tmp_path, pki):
    s = make(tmp_path, pki)
    rc, out, err = check(s)
    assert rc == 0, err
    assert out == f"{s.conf}: ok\n"
    # --check does not touch the spool, not even to create it: a running
    # server holds it (issue 12 item 2, test_spool_lock.py)
    assert not s.spool.exists()


def test_check_spool_not_a_folder(tmp_path, pki):
    s = make(tmp_path, pki)
    s.spool.write_text("")
    rc, out, err = check(s)
    assert rc == 1
    assert err == f"postern: spool {s.spool}: not a folder\n"
    s.spool.unlink()
    s.conf.write_text(s.conf.read_text().replace("spool = spool\n", "spool = /nonexistent/x/spool\n"))
    rc, out, err = check(s)
    assert rc == 1
    assert err == ("postern: spool /nonexistent/x/spool: cannot be created: /nonexistent/x: "
                   "No such file or directory\n")


def test_missing_certificate(tmp_path, pki):
    s = make(tmp_path, pki)
    s.conf.write_text(s.conf.read_text().replace(str(pki.cert), "/nonexistent/cert.pem"))
    rc, out, err = check(s)
    assert rc == 1
    assert err == (f"postern: {s.conf}:{line_of(s, 'tls_certificate')}: "
                   "tls_certificate /nonexistent/cert.pem: No such file or directory\n")


def test_missing_key(tmp_path, pki):
    s = make(tmp_path, pki)
    s.conf.write_text(s.conf.read_text().replace(str(pki.key), "/x/y.pem"))
    rc, out, err = check(s)
    assert rc == 1
    assert err == f"postern: {s.conf}:{line_of(s, 'tls_key')}: tls_key /x/y.pem: No such file or directory\n"


def test_key_does_not_match(tmp_path, pki):
    s = make(tmp_path, pki)
    other_key = pki.dir / "other-ca.key"    # a valid key, of another certificate
    s.conf.write_text(s.conf.read_text().replace(str(pki.key), str(other_key)))
    rc, out, err = check(s)
    assert rc == 1
    assert err == (f"postern: {s.conf}:{line_of(s, 'tls_key')}: tls_key {other_key}: does not match "
                   f"tls_certificate {pki.cert} (line {line_of(s, 'tls_certificate')})\n")


def test_certificate_not_pem(tmp_path, pki):
    s = make(tmp_path, pki)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    s.conf.write_text(s.conf.read_text().replace(str(pki.cert), str(bad)))
    rc, out, err = check(s)
    assert rc == 1
    assert err == f"postern: {s.conf}:{line_of(s, 'tls_certificate')}: tls_certificate {bad}: no start line\n"
    assert err.count("\n") == 1


def test_unknown_key_names_file_and_line(tmp_path, pki):
    s = make(tmp_path, pki, extra="max_errors = 5\nbogus_key = 1\n")
    rc, out, err = check(s)
    assert rc == 1
    line = s.conf.read_text().splitlines().index("bogus_key = 1") + 1
    assert err == f"postern: {s.conf}:{line}: unknown key 'bogus_key'\n"


def test_bad_values_name_file_and_line(tmp_path, pki):
    for i, (extra, what) in enumerate([("listen = 127.0.0.1:99999 smtp\n", "listen: '127.0.0.1:99999' is not ADDR:PORT"),
                        ("listen = 127.0.0.1:2525 mx\n", "listen: unknown role 'mx'"),
                        ("plaintext_auth = sometimes\n", "plaintext_auth: 'sometimes' is not tls-only or always"),
                        ("auth_mechanisms = PLAIN FOO\n", "auth_mechanisms: unknown mechanism 'FOO'"),
                        ("command_timeout = soon\n", "command_timeout: 'soon' is not a duration"),
                        ("max_message_size = 0\n", "max_message_size: '0' is not a size")]):
        s = make(tmp_path / str(i), pki, extra=extra)
        rc, out, err = check(s)
        line = len(s.conf.read_text().splitlines())
        assert rc == 1, extra
        assert err.startswith(f"postern: {s.conf}:{line}: {what}"), err


def test_later_keys_accepted(tmp_path, pki):
    s = make(tmp_path, pki, extra="relay_host = [smtp.example.test]:587\nrelay_tls = required\n"
                                  "command_timeout = 5m\nmax_message_size = 10M\n")
    rc, out, err = check(s)
    assert rc == 0, err


def test_missing_config_file(tmp_path):
    r = postern("serve", "-c", str(tmp_path / "none.conf"), "--check")
    assert r.returncode == 1
    assert r.stderr.decode() == f"postern: {tmp_path / 'none.conf'}: No such file or directory\n"


def test_port_in_use(tmp_path, pki):
    s = make(tmp_path, pki)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", s.smtp))
        busy.listen(1)
        # --check does not bind (it must pass for a running server's
        # config); the real start names the busy port, exit 1, and the
        # other ports never listened
        rc, out, err = check(s)
        assert rc == 0, err
        r = postern("serve", "-c", str(s.conf), timeout=20)
        assert r.returncode == 1
        assert r.stderr.decode().endswith(f"postern: listen 127.0.0.1:{s.smtp}: Address already in use\n")
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", s.submission)) != 0


def test_check_against_running_server(server):
    """--check on the config of the server that runs (and holds its
    ports) says ok, and the server goes on answering."""
    rc, out, err = check(server)
    assert (rc, out, err) == (0, f"{server.conf}: ok\n", "")
    with socket.create_connection(("127.0.0.1", server.submission), timeout=10) as c:
        assert c.makefile("rb").readline().startswith(b"220 ")


def test_missing_credentials_file(tmp_path, pki):
    s = PosternServer(tmp_path / "nocred", pki)
    rc, out, err = check(s)
    assert rc == 1
    assert err.startswith("postern: credentials file:users: "), err
    assert err.count("\n") == 1
