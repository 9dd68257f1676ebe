"""Signals and crashes: SIGTERM drains and exits 0 without losing an
accepted message, SIGHUP reloads (or keeps the old config, saying why),
and kill -9 right after a 250 loses nothing."""
import signal
import time

from conftest import USER, started_server
from test_server_dialogue import HOST, Dialogue, client_ctx, plain, queue_ids


def wait_for(pred, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def send_local(s, body=b"Subject: keep\r\n\r\nkeep me\r\n"):
    d = Dialogue(s.smtp)
    d.cmd("EHLO client.test")
    assert d.one("MAIL FROM:<a@b.test>") == b"250 2.1.0 Ok\r\n"
    assert d.one("RCPT TO:<c@example.test>") == b"250 2.1.5 Ok\r\n"
    assert d.one("DATA").startswith(b"354")
    r = d.one(body + b".")
    assert r.startswith(b"250 2.0.0 Ok: queued as "), r
    return d, r.split()[-1].decode()


def test_sigterm_exits_0_and_keeps_message(server):
    d, qid = send_local(server)
    idle = Dialogue(server.submission)
    server.proc.send_signal(signal.SIGTERM)
    assert idle.reply() == [f"421 4.3.2 {HOST} Service shutting down\r\n".encode()]
    assert server.proc.wait(timeout=20) == 0
    d.close()
    idle.close()
    assert qid in queue_ids(server)
    assert "keep me" in server.queue("show", qid).stdout.decode()


def test_sigterm_lets_data_finish(server):
    d = Dialogue(server.smtp)
    d.cmd("EHLO client.test")
    d.one("MAIL FROM:<a@b.test>")
    d.one("RCPT TO:<c@example.test>")
    assert d.one("DATA").startswith(b"354")
    d.send(b"Subject: in flight\r\n\r\nfirst half\r\n")
    server.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "shutting down" in server.log_text(), "the shutdown log line")
    d.send(b"second half\r\n.\r\n")
    r = d.reply()
    assert r[0].startswith(b"250 2.0.0 Ok: queued as "), r
    assert d.reply() == [f"421 4.3.2 {HOST} Service shutting down\r\n".encode()]
    assert server.proc.wait(timeout=20) == 0
    qid = r[0].split()[-1].decode()
    assert "second half" in server.queue("show", qid).stdout.decode()


def test_sigterm_grace_drops_unfinished_message(tmp_path, pki):
    s = started_server(tmp_path / "g", pki, "shutdown_grace = 1\n")
    try:
        d = Dialogue(s.smtp)
        d.cmd("EHLO client.test")
        d.begin_data()
        d.send(b"Subject: never finished\r\n\r\npartial\r\n")
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=20) == 0
        assert queue_ids(s) == []
        assert list((s.spool / "tmp").iterdir()) == []
        d.close()
    finally:
        s.stop()


def test_sighup_broken_config_keeps_serving(server):
    good = server.conf.read_text()
    server.conf.write_text(good + "no_such_key = 1\n")
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in server.log_text(), "the reload failure line")
    assert "unknown key 'no_such_key'" in server.log_text()
    assert server.proc.poll() is None
    d, qid = send_local(server)
    d.close()
    server.conf.write_text(good)


def test_sighup_new_user(server, pki):
    server.add_user("newbie@example.test", "fresh password")
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in server.log_text(), "the reload line")
    d = Dialogue(server.submissions, tls_ctx=client_ctx(pki))
    d.cmd("EHLO client.test")
    assert d.one("AUTH PLAIN " + plain("newbie@example.test", "fresh password")) == \
        b"235 2.7.0 Authentication successful\r\n"
    d.close()


def test_kill_9_after_250_loses_nothing(server):
    body = b"Subject: crash\r\n\r\n" + b"".join(b"line %d of the crash test\r\n" % i for i in range(500))
    d, qid = send_local(server, body)
    server.proc.kill()
    server.proc.wait(timeout=10)
    d.close()
    server.start()
    wait_for(lambda: server.proc.poll() is None, "restart")
    shown = server.queue("show", qid)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode()
    assert "line 499 of the crash test" in text
    assert "torn" not in shown.stderr.decode()


def test_sighup_lets_open_sessions_go_on(server, pki):
    """A session open when the config is reloaded goes on in the old
    network process as if nothing happened (no 421 for being idle), and a
    message sent in it after the reload is queued; new sessions meanwhile
    go to the new process."""
    d = Dialogue(server.submissions, tls_ctx=client_ctx(pki))
    d.cmd("EHLO client.test")
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in server.log_text(), "the reload line")
    wait_for(lambda: "took over" in server.log_text(), "the old process letting go")
    assert d.one("NOOP") == b"250 2.0.0 Ok\r\n"
    assert d.one("AUTH PLAIN " + plain()) == b"235 2.7.0 Authentication successful\r\n"
    assert d.one(f"MAIL FROM:<{USER}>").startswith(b"250 ")
    d.close()
    fresh = Dialogue(server.submissions, tls_ctx=client_ctx(pki))
    assert fresh.cmd("EHLO client.test")[-1].startswith(b"250 ")
    fresh.close()
