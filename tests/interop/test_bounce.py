"""Delivery status notifications (src/deliver/bounce.c) read by Python's
email package, an independent MIME/RFC 3464 parser.

tests/tools/bounce_make.c builds a report about a message on its stdin
(pulled in small chunks); the tests parse it and check the
multipart/report structure, the message/delivery-status fields per
recipient, the original header section without its body, and the
delayed variant."""
import email
import email.policy
import subprocess

import pytest

from conftest import tool_path

ORIGINAL = (b"Received: from client (127.0.0.1)\r\n\tby mail.example.test\r\n"
            b"From: Alice <alice@example.test>\r\nTo: bob@remote.example\r\n"
            b"Subject: quarterly numbers\r\nMessage-ID: <orig-1@example.test>\r\n"
            b"\r\nSECRET BODY TEXT\r\n" + b"more body\r\n" * 1000)


def make(*rcpts, delayed=False, sender="alice@example.test", chunk=5, original=ORIGINAL):
    args = [tool_path("deliver", "bounce_make"), "-c", str(chunk)]
    if delayed:
        args.append("-d")
    r = subprocess.run(args + ["mail.example.test", sender, *rcpts], input=original,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout, r.stderr.decode()


def parse(raw):
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")   # CRLF only
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.parametrize("chunk", [5, 65536])
def test_failure_report_structure_and_fields(chunk):
    raw, err = make("bob@remote.example|Bob@remote.example|mx.remote.example|550|5.1.1|"
                    "5.1.1 <bob@remote.example>: Recipient address rejected||",
                    "carol@nomail.example||||||domain nomail.example does not accept mail|5.1.10",
                    "dave@remote.example||mx.remote.example|554||Transaction failed||",
                    chunk=chunk)
    assert "wanted=yes" in err
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["To"].addresses[0].addr_spec == "alice@example.test"
    assert msg["From"].addresses[0].addr_spec == "MAILER-DAEMON@mail.example.test"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    human, status, headers = msg.get_payload()
    assert human.get_content_type() == "text/plain"
    text = human.get_content()
    assert "<bob@remote.example>: host mx.remote.example said: 550 5.1.1" in text
    assert "<carol@nomail.example>: domain nomail.example does not accept mail" in text

    assert status.get_content_type() == "message/delivery-status"
    per_msg, *per_rcpt = status.get_payload()
    assert per_msg["Reporting-MTA"] == "dns; mail.example.test"
    assert per_msg["Arrival-Date"] is not None
    assert [r["Final-Recipient"] for r in per_rcpt] == [
        "rfc822; bob@remote.example", "rfc822; carol@nomail.example",
        "rfc822; dave@remote.example"]
    bob, carol, dave = per_rcpt
    assert bob["Original-Recipient"] == "rfc822; Bob@remote.example"
    assert carol["Original-Recipient"] is None
    assert [r["Action"] for r in per_rcpt] == ["failed"] * 3
    assert [r["Status"] for r in per_rcpt] == ["5.1.1", "5.1.10", "5.0.0"]   # 554: derived
    assert bob["Remote-MTA"] == "dns; mx.remote.example"
    assert carol["Remote-MTA"] is None
    assert bob["Diagnostic-Code"] == ("smtp; 550 5.1.1 <bob@remote.example>: Recipient address"
                                      " rejected")
    assert carol["Diagnostic-Code"].startswith("X-Postern; domain nomail.example")
    assert all(r["Last-Attempt-Date"] for r in per_rcpt)
    assert all(r["Will-Retry-Until"] is None for r in per_rcpt)

    assert headers.get_content_type() == "text/rfc822-headers"
    orig = headers.get_payload()
    assert "Subject: quarterly numbers" in orig and "Message-ID: <orig-1@example.test>" in orig
    assert b"SECRET" not in raw and b"more body" not in raw
    # the header section whole, then straight the closing boundary
    assert b"\r\nMessage-ID: <orig-1@example.test>\r\n\r\n--=_postern_" in raw


def test_delayed_warning():
    raw, _ = make("bob@remote.example||mx.remote.example|451|4.7.1|4.7.1 Greylisted||",
                  delayed=True)
    msg = parse(raw)
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    human, status, headers = msg.get_payload()
    assert "THIS IS A WARNING ONLY" in human.get_content()
    [rcpt] = status.get_payload()[1:]
    assert rcpt["Action"] == "delayed" and rcpt["Status"] == "4.7.1"
    assert rcpt["Will-Retry-Until"] is not None
    assert headers.get_content_type() == "text/rfc822-headers"


def test_multiline_hostile_reply_stays_one_field():
    raw, _ = make("bob@remote.example||mx.remote.example|550|5.7.1|"
                  "5.7.1 first line\\nX-Injected: yes\\n--=_postern_x||")
    msg = parse(raw)
    [rcpt] = msg.get_payload()[1].get_payload()[1:]
    assert rcpt["Diagnostic-Code"] == "smtp; 550 5.7.1 first line X-Injected: yes --=_postern_x"
    assert rcpt["X-Injected"] is None
    assert len(msg.get_payload()) == 3


def test_null_sender_is_never_bounced():
    _, err = make("bob@remote.example||||||failed|", sender="")
    assert "wanted=no" in err
