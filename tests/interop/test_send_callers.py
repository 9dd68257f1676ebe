"""Programs that use a sendmail: `git send-email --sendmail-cmd` and
Emacs `message-send-mail-with-sendmail` (emacs -batch, sendmail-program
set to a `sendmail` symlink to postern) deliver through `postern send`
into `postern serve`; with a wrong password both report the failure and
nothing is queued."""
import os

import pytest

from clients import (REMOTE_RCPT, SENDER, WRONG_PASSWORD, assert_not_spooled, describe,
                     queue_ids, queue_show, header, run_client, tag)
from conftest import PASSWORD, POSTERN, USER


def write_conf(tmp_path, server, password=PASSWORD):
    p = tmp_path / "postern-send.conf"
    p.write_text(f"""defaults
tls on
tls_trust_file {server.pki.ca}
account submission
host 127.0.0.1
port {server.submission}
auth on
user {USER}
password "{password}"
from {SENDER}
account default : submission
""")
    p.chmod(0o600)
    return p


def only_new(server, before):
    new = [i for i in queue_ids(server) if i not in before]
    assert len(new) == 1, f"expected one new message, got {new}"
    return queue_show(server, new[0])


def git(repo, *args, env=None):
    r = run_client(["git", "-C", repo, *args], env=env)
    assert r.returncode == 0, describe(r)
    return r


def git_env(tmp_path):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": SENDER,
            "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": SENDER}


def make_patch(tmp_path, mark, env):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", env=env)
    (repo / "file.txt").write_text(f"{mark}\n.leading dot\n")
    git(repo, "add", "file.txt", env=env)
    git(repo, "commit", "-q", "-m", f"Subject {mark}", env=env)
    git(repo, "format-patch", "-q", "-1", "-o", str(tmp_path / "out"), env=env)
    return repo, next((tmp_path / "out").iterdir())


@pytest.mark.parametrize("good", [True, False])
def test_git_send_email(server, tmp_path, good):
    env = git_env(tmp_path)
    mark = tag()
    repo, patch = make_patch(tmp_path, mark, env)
    conf = write_conf(tmp_path, server, PASSWORD if good else WRONG_PASSWORD)
    before = queue_ids(server)
    r = run_client(["git", "-C", repo, "send-email", "--confirm=never", "--quiet",
                    "--suppress-cc=all", "--no-validate", f"--from=Alice <{SENDER}>",
                    f"--to={REMOTE_RCPT}", f"--sendmail-cmd={POSTERN} send -C {conf}", patch],
                   env=env)
    if not good:
        assert r.returncode != 0, describe(r)
        assert "authentication failed" in describe(r), describe(r)
        assert_not_spooled(server, before)
        return
    assert r.returncode == 0, describe(r)
    env_, content = only_new(server, before)
    assert mark in header(content, "Subject"), content[:800]
    assert f"+{mark}" in content and "\n+.leading dot" in content.replace("\r\n", "\n")


ELISP = r"""
(require 'message)
(setq message-send-mail-function 'message-send-mail-with-sendmail
      sendmail-program {sendmail}
      message-sendmail-extra-arguments (list "-C" {conf})
      message-sendmail-envelope-from 'header
      user-mail-address {sender}
      user-full-name "Alice"
      message-interactive t
      message-confirm-send nil
      message-kill-buffer-on-exit t)
(condition-case err
    (progn
      (message-mail {rcpt} {mark})
      (message-goto-body)
      (insert "Body of " {mark} ".\n.leading dot\nlast line\n")
      (message-send-and-exit)
      (kill-emacs 0))
  (error (princ (format "ERROR: %S\n" err)) (kill-emacs 3)))
"""


def q(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.parametrize("good", [True, False])
def test_emacs_message_sendmail(server, tmp_path, good):
    link = tmp_path / "sendmail"
    link.symlink_to(POSTERN)
    conf = write_conf(tmp_path, server, PASSWORD if good else WRONG_PASSWORD)
    mark = tag()
    script = tmp_path / "send.el"
    script.write_text(ELISP.format(sendmail=q(link), conf=q(conf), sender=q(SENDER),
                                   rcpt=q(REMOTE_RCPT), mark=q(mark)))
    home = tmp_path / "home"
    home.mkdir()
    before = queue_ids(server)
    r = run_client(["emacs", "-batch", "-Q", "-l", script], env={**os.environ, "HOME": str(home)},
                   timeout=60)
    if not good:
        assert r.returncode == 3, describe(r)
        # Emacs shows sendmail's exit status: 77 is EX_NOPERM
        assert "failed with exit value 77" in describe(r), describe(r)
        assert_not_spooled(server, before)
        return
    assert r.returncode == 0, describe(r)
    env_, content = only_new(server, before)
    assert header(content, "Subject") == mark, content[:800]
    assert f"Body of {mark}." in content and "\n.leading dot\n" in content.replace("\r\n", "\n")


def msmtprc_as_people_have_it(tmp_path, server):
    """An ~/.msmtprc as found in the wild (Arch wiki, Debian's example):
    msmtp keys postern used to warn about on every message."""
    aliases = tmp_path / "aliases"
    aliases.write_text("# /etc/aliases style\nroot: " + REMOTE_RCPT + "\ndefault: " + REMOTE_RCPT + "\n")
    p = tmp_path / ".msmtprc"
    p.write_text(f"""# Set default values for all following accounts.
defaults
auth           on
tls            on
tls_trust_file {server.pki.ca}
tls_min_dh_prime_bits 512
logfile        {tmp_path / "msmtp.log"}
syslog         off
timeout        30
aliases        {aliases}
set_from_header auto

# Work
account        work
host           127.0.0.1
port           {server.submission}
from           {SENDER}
user           {USER}
password       "{PASSWORD}"
tls_priorities NORMAL:-VERS-TLS1.0

account default : work
""")
    p.chmod(0o600)
    return p


def test_emacs_with_an_existing_msmtprc(server, tmp_path):
    """Issue 12 item 11: Emacs takes any output of sendmail as failure, so
    the warnings postern printed for logfile, syslog, timeout ... made
    every message fail."""
    link = tmp_path / "sendmail"
    link.symlink_to(POSTERN)
    conf = msmtprc_as_people_have_it(tmp_path, server)
    mark = tag()
    script = tmp_path / "send.el"
    script.write_text(ELISP.format(sendmail=q(link), conf=q(conf), sender=q(SENDER),
                                   rcpt=q(REMOTE_RCPT), mark=q(mark)))
    home = tmp_path / "home"
    home.mkdir()
    before = queue_ids(server)
    r = run_client(["emacs", "-batch", "-Q", "-l", script], env={**os.environ, "HOME": str(home)},
                   timeout=60)
    assert r.returncode == 0, describe(r)
    env_, content = only_new(server, before)
    assert header(content, "Subject") == mark, content[:800]
    log = (tmp_path / "msmtp.log").read_text()
    assert f" from={SENDER} recipients={REMOTE_RCPT} mailsize=" in log and \
        log.endswith(" exitcode=EX_OK\n"), log
