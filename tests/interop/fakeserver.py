"""The skeleton of the scripted fake SMTP servers some suites use to
provoke what a well-behaved server never does.  Serves up to `conns`
connections one after another on a free loopback port, in a thread;
every socket operation has a timeout, so a confused client cannot hang
a test.  Subclasses answer one connection in _session(conn)."""
import socket
import ssl
import threading

from conftest import free_port

TIMEOUT = 20


class ScriptedServer:
    def __init__(self, conns=1):
        """Call at the end of the subclass's __init__: it starts serving."""
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(4)
        self.sock.settimeout(TIMEOUT)
        self.thread = threading.Thread(target=self._serve, args=(conns,), daemon=True)
        self.thread.start()

    def _serve(self, conns):
        for _ in range(conns):
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(TIMEOUT)
            try:
                self._session(conn)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def _session(self, conn):
        raise NotImplementedError

    def stop(self):
        self.sock.close()
        self.thread.join(timeout=TIMEOUT + 5)
