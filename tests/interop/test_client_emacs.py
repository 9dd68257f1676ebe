"""Emacs smtpmail, the classic client SMTP AUTH grew up with, run with
`emacs -batch` against `postern serve`: STARTTLS on the submission port
(smtpmail-stream-type 'starttls; 'ssl for implicit TLS), the password from an authinfo file
(auth-source), our test CA as the only trust anchor with verification
errors fatal (gnutls-trustfiles, gnutls-verify-error), and the
mechanism forced through smtpmail-auth-supported: CRAM-MD5, PLAIN,
LOGIN.  A wrong password gets 535 5.7.8 and Emacs exits non-zero with
nothing spooled; a certificate checked against another CA is refused
before any AUTH."""
import re

import pytest

from clients import (REMOTE_RCPT, SENDER, WRONG_PASSWORD, assert_auth_failure_logged,
                     assert_not_spooled, assert_spooled, describe, output, queue_ids, run_client,
                     tag)
from conftest import PASSWORD, USER

MECHS = ["CRAM-MD5", "PLAIN", "LOGIN"]
EXIT_SEND_FAILED = 3     # our script's exit when smtpmail-send-it signalled an error


def elisp_string(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


SCRIPT = r"""
(require 'smtpmail)
(require 'auth-source)
(require 'gnutls)
(setq debug-on-error nil
      auth-sources (list {authinfo})
      auth-source-save-behavior nil
      auth-source-do-cache nil
      nsm-settings-file {nsm}
      gnutls-trustfiles (list {ca})
      gnutls-verify-error t
      ;; Verification is gnutls-verify-error's job; the NSM would only
      ;; prompt, and there is nobody to answer in batch mode.
      network-security-level 'low
      smtpmail-smtp-server {host}
      smtpmail-smtp-service {port}
      smtpmail-stream-type '{stream}
      smtpmail-smtp-user {user}
      smtpmail-auth-supported '({mech})
      smtpmail-servers-requiring-authorization ".*"
      smtpmail-local-domain nil
      smtpmail-sendto-domain nil
      smtpmail-queue-mail nil
      smtpmail-debug-info t
      smtpmail-debug-verb t
      user-mail-address {sender}
      mail-specify-envelope-from nil
      send-mail-function 'smtpmail-send-it)
(defun postern-test-trace ()
  (dolist (b (buffer-list))
    (when (string-match-p "trace of SMTP session" (buffer-name b))
      (with-current-buffer b (princ (buffer-string))))))
(condition-case err
    (with-temp-buffer
      (insert "From: <" {sender} ">\nTo: <" {rcpt} ">\nSubject: " {mark} "\n"
              "Message-ID: <" {mark} "@example.test>\n"
              mail-header-separator "\n"
              "Body of " {mark} ".\n.leading dot, must survive dot-stuffing\nlast line\n")
      (smtpmail-send-it)
      (postern-test-trace)
      (princ "\nPOSTERN-TEST: sent\n"))
  (error
   (postern-test-trace)
   (princ (format "\nPOSTERN-TEST: failed: %S\n" err))
   (kill-emacs {exit_failed})))
(kill-emacs 0)
"""


def emacs(server, tmp_path, mech, password, ca, mark, implicit=False):
    port = server.submissions if implicit else server.submission
    authinfo = tmp_path / "authinfo"
    authinfo.touch(mode=0o600)
    authinfo.write_text(f"machine {server.host} login {USER} password {elisp_string(password)} "
                        f"port {port}\n")
    script = tmp_path / "send.el"
    script.write_text(SCRIPT.format(
        authinfo=elisp_string(authinfo), nsm=elisp_string(tmp_path / "nsm.data"), ca=elisp_string(ca), host=elisp_string(server.host),
        port=port, stream="ssl" if implicit else "starttls", user=elisp_string(USER), mech=mech.lower(),
        sender=elisp_string(SENDER), rcpt=elisp_string(REMOTE_RCPT), mark=elisp_string(mark),
        exit_failed=EXIT_SEND_FAILED))
    # HOME points at tmp_path so no ~/.authinfo, ~/.emacs.d or saved state
    # of the user running the tests takes part.
    return run_client(["emacs", "-batch", "-Q", "-l", script], input=b"",
                      env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})


def replied(r, code):
    """smtpmail's trace buffer holds the server's replies (not the
    commands; the mechanism used is checked in the spooled envelope)."""
    return re.search(r"^" + re.escape(code), output(r), re.M) is not None


@pytest.mark.parametrize("mech", MECHS)
def test_submit(server, tmp_path, mech):
    before = queue_ids(server)
    mark = tag()
    r = emacs(server, tmp_path, mech, PASSWORD, server.pki.ca, mark)
    assert r.returncode == 0, describe(r)
    assert "POSTERN-TEST: sent" in output(r), describe(r)
    assert replied(r, "235 2.7.0"), describe(r)
    assert_spooled(server, before, mark, mech=mech)


def test_submit_implicit_tls(server, tmp_path):
    """smtpmail-stream-type 'ssl on the submissions listener."""
    before = queue_ids(server)
    mark = tag()
    r = emacs(server, tmp_path, "PLAIN", PASSWORD, server.pki.ca, mark, implicit=True)
    assert r.returncode == 0, describe(r)
    assert replied(r, "235 2.7.0"), describe(r)
    assert_spooled(server, before, mark, mech="PLAIN")


@pytest.mark.parametrize("mech", MECHS)
def test_wrong_password(server, tmp_path, mech):
    before = queue_ids(server)
    r = emacs(server, tmp_path, mech, WRONG_PASSWORD, server.pki.ca, tag())
    assert r.returncode == EXIT_SEND_FAILED, describe(r)
    assert "Sending failed: 535 5.7.8" in output(r), describe(r)
    assert replied(r, "535 5.7.8"), describe(r)
    assert not replied(r, "235"), describe(r)
    assert_auth_failure_logged(server, mech)
    assert_not_spooled(server, before)


def test_untrusted_certificate(server, tmp_path):
    before = queue_ids(server)
    r = emacs(server, tmp_path, "CRAM-MD5", PASSWORD, server.pki.other_ca, tag())
    assert r.returncode == EXIT_SEND_FAILED, describe(r)
    assert "Certificate validation failed" in output(r), describe(r)
    assert not replied(r, "334") and not replied(r, "235"), describe(r)
    assert_not_spooled(server, before)
