"""The three readers of the server config (`postern serve`, `postern
queue`, `postern passwd`) are one table-driven reader (issue 13 item 8):
for the same file they agree on defaults, relative paths and errors.
Before, queue and passwd picked their one key out by hand and let every
other mistake through."""
from conftest import PASSWORD, USER, PosternServer, postern


def make(tmp_path, pki, extra=""):
    s = PosternServer(tmp_path / "srv", pki)
    s.add_user(USER, PASSWORD)
    s.write_conf(extra)
    return s


def errors(s):
    """stderr of serve --check, queue list and passwd list on s's config."""
    out = []
    for args in (["serve", "-c", str(s.conf), "--check"],
                 ["queue", "-c", str(s.conf), "list"],
                 ["passwd", "-c", str(s.conf), "list"]):
        r = postern(*args, cwd="/")
        out.append((args[0], r.returncode, r.stderr.decode()))
    return out


def test_empty_credentials_refused_by_all(tmp_path, pki):
    s = make(tmp_path, pki, extra="credentials =\n")
    line = len(s.conf.read_text().splitlines())
    for cmd, rc, err in errors(s):
        if cmd == "passwd":     # passwd reads credentials only
            assert rc == 1 and f"{s.conf}:{line}: credentials: empty" in err, (cmd, err)
        elif cmd == "serve":
            assert rc == 1 and err == f"postern: {s.conf}:{line}: credentials: empty\n", err
        else:
            assert rc == 1 and err == f"postern queue: {s.conf}:{line}: credentials: empty\n", err


def test_queue_checks_every_key_as_serve_does(tmp_path, pki):
    s = make(tmp_path, pki, extra="max_recipients = lots\n")
    line = len(s.conf.read_text().splitlines())
    want = f"{s.conf}:{line}: max_recipients: 'lots' is not a positive whole number\n"
    (serve, src, serr), (queue, qrc, qerr), _ = errors(s)
    assert src == 1 and serr == "postern: " + want
    assert qrc == 1 and qerr == "postern queue: " + want


def test_relative_paths_agree(tmp_path, pki):
    """spool and credentials are relative to the config's folder for every
    command, whatever the working folder (cwd="/" above)."""
    s = make(tmp_path, pki)
    assert "spool = spool\n" in s.conf.read_text()
    s.spool.mkdir()
    (s.spool / "queue").mkdir()
    for cmd, rc, err in errors(s):
        assert rc == 0, (cmd, err)
    r = postern("passwd", "-c", str(s.conf), "list", cwd="/")
    assert USER in r.stdout.decode()
