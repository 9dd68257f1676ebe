"""An aiosmtpd upstream for client-side tests: records each message's
envelope and content exactly as received (un-stuffed, line ends as they
came), the raw MAIL / RCPT lines with every parameter, and whether the
session was encrypted.

    with Upstream(starttls_ctx=ctx, dsn=True, auth=True) as up:
        up.port; up.messages[0].content; up.mail_lines[0]

Scripted failures, for the delivery suites: data_replies is a list of
replies the successive DATA commands get instead of 250 (then 250 again
once it is used up; each try is logged in up.data_tries with its time,
reply and content), rcpt_replies maps a recipient address to the reply
its RCPT gets (a 550 refuses only that one), data_delay holds every
reply to the final dot that many seconds (deliveries in flight).  host
picks the loopback address (127.0.0.0/8: an MX host on port 25 of an
address of its own).

aiosmtpd refuses MAIL/RCPT parameters it does not know (AUTH=, RET=,
ENVID=, NOTIFY=, ORCPT=) with 555; this server notes the line as it came
and hands aiosmtpd the command without them.  dsn=True adds "DSN" to
EHLO; auth=True advertises AUTH (aiosmtpd's, never used here) so that a
client passes AUTH= on.  decode_data=True drops 8BITMIME from EHLO.
"""
import asyncio
import dataclasses
import re
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from conftest import free_port

EXTRA = re.compile(r"\s+(AUTH|RET|ENVID|NOTIFY|ORCPT)=\S+", re.I)


@dataclasses.dataclass
class Received:
    mail_from: str
    rcpts: list
    content: bytes
    tls: bool
    at: float = 0.0             # time.time() of the 250


class _Handler:
    def __init__(self, up):
        self.up = up

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.up.dsn:
            responses.insert(-1, "250-DSN")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.up.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        scripted = self.up.next_data_reply(envelope.original_content or b"")
        if self.up.data_delay:
            await asyncio.sleep(self.up.data_delay)
        if scripted is not None:
            return scripted
        content = envelope.original_content or b""
        if not self.up.keep_content:
            content = len(content)
        self.up.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), content,
                                         session.ssl is not None, time.time()))
        return "250 2.0.0 Ok: queued"


class _Smtp(SMTP):
    async def smtp_MAIL(self, arg):
        self.event_handler.up.mail_lines.append(arg)
        await super().smtp_MAIL(EXTRA.sub("", arg) if arg else arg)

    async def smtp_RCPT(self, arg):
        self.event_handler.up.rcpt_lines.append(arg)
        await super().smtp_RCPT(EXTRA.sub("", arg) if arg else arg)


def _never(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False)


class _Controller(Controller):
    def __init__(self, up, **kw):
        self.up = up
        super().__init__(_Handler(up), hostname=up.host, port=up.port, **kw)

    def factory(self):
        # SIZE advertised (100 MB: above every test message)
        kw = dict(data_size_limit=100 * 1024 * 1024, decode_data=self.up.decode_data,
                  tls_context=self.up.starttls_ctx, require_starttls=False)
        if self.up.auth:
            kw.update(authenticator=_never, auth_require_tls=False)
        return _Smtp(self.handler, **kw)


class Upstream:
    def __init__(self, starttls_ctx=None, dsn=False, auth=False, decode_data=False,
                 keep_content=True, host="127.0.0.1", port=None, data_replies=(),
                 rcpt_replies=None, data_delay=0):
        self.host = host
        self.port = port or free_port(host)
        self.data_replies = list(data_replies)
        self.rcpt_replies = dict(rcpt_replies or {})
        self.data_delay = data_delay    # seconds between the final dot and the reply
        self.data_tries = []            # (time.time(), reply, content) per DATA
        self._lock = threading.Lock()
        self.starttls_ctx = starttls_ctx
        self.dsn, self.auth, self.decode_data = dsn, auth, decode_data
        self.keep_content = keep_content
        self.messages, self.mail_lines, self.rcpt_lines = [], [], []
        self.ctl = _Controller(self)

    def next_data_reply(self, content):
        """The scripted reply for this DATA, or None for 250; logs the try
        (time, reply, content)."""
        with self._lock:
            reply = self.data_replies.pop(0) if self.data_replies else None
            self.data_tries.append((time.time(), reply or "250", content))
        return reply

    def __enter__(self):
        self.ctl.start()
        return self

    def __exit__(self, *exc):
        self.ctl.stop()
