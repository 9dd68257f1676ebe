#!/bin/sh
# Install the Debian 12 packages postern needs to build and to run its
# tests.  Idempotent: does nothing when every package is present.
# Runs unattended (CI has no stdin): Postfix is preseeded to
# "No configuration", and package scripts may not start daemons
# (policy-rc.d); the tests run their own instances on ports they pick.
# Should a daemon start anyway, only that one is stopped, by its pid: a
# Postfix or Dovecot that was running before is the machine's own, and
# processes merely named "master" may be anybody's (nothing is stopped by name).
#
# POLICY_RC_D, POSTFIX_PIDFILE and DOVECOT_PIDFILE name the files used
# (tests/interop/test_scripts.py points them into a temporary folder).
set -eu

POLICY_RC_D=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
POSTFIX_PIDFILE=${POSTFIX_PIDFILE:-/var/spool/postfix/pid/master.pid}
DOVECOT_PIDFILE=${DOVECOT_PIDFILE:-/run/dovecot/master.pid}

BUILD="gcc clang libclang-rt-14-dev make meson ninja-build pkg-config libssl-dev libevent-dev \
libcrypt-dev libidn-dev libcmocka-dev openssl libc-ares-dev libjansson-dev libcurl4-openssl-dev \
libpam0g-dev"
TEST="python3 python3-pytest python3-pytest-xdist python3-pytest-timeout python3-aiosmtpd swaks libnet-ssleay-perl \
libio-socket-ssl-perl libauthen-sasl-perl libdigest-hmac-perl msmtp curl \
gsasl emacs-nox postfix dovecot-core git git-email libmailtools-perl ca-certificates procps \
fail2ban dnsmasq-base dovecot-lmtpd time python3-jwt python3-cryptography mutt"

want="$BUILD"
[ "${1:-}" = "--build-only" ] || want="$want $TEST"

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing Debian packages:$missing" >&2
	echo "deps.sh: run 'sudo sh scripts/deps.sh' or install them yourself" >&2
	exit 1
fi

# running_pid PIDFILE NAME: the pid in PIDFILE when a process called NAME
# runs under it (a stale file, a reused pid or a zombie prints nothing).
running_pid() {
	pid=$(head -n 1 "$1" 2>/dev/null | tr -cd '0-9')
	[ -n "$pid" ] || return 0
	# "S master"; a zombie (Z) has exited already
	case $(ps -o s=,comm= -p "$pid" 2>/dev/null) in
	Z*) ;;
	?" $2") echo "$pid" ;;
	esac
}

# stop_new PIDFILE NAME BEFORE: stops the NAME daemon of PIDFILE when it
# is not the one that ran before the install (pid BEFORE, or none).
stop_new() {
	pid=$(running_pid "$1" "$2")
	[ -n "$pid" ] && [ "$pid" != "$3" ] || return 0
	echo "deps.sh: stopping $2 (pid $pid), started by the install"
	kill "$pid" 2>/dev/null || return 0
	i=0
	while [ $i -lt 50 ] && [ -n "$(running_pid "$1" "$2")" ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
postfix_before=$(running_pid "$POSTFIX_PIDFILE" master)
dovecot_before=$(running_pid "$DOVECOT_PIDFILE" dovecot)
# Keep package scripts from starting daemons (policy-rc.d, Debian policy 9.3.3).
if [ ! -e "$POLICY_RC_D" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC_D"
	chmod 755 "$POLICY_RC_D"
	trap 'rm -f "$POLICY_RC_D"' EXIT
fi
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing </dev/null
stop_new "$POSTFIX_PIDFILE" master "$postfix_before"
stop_new "$DOVECOT_PIDFILE" dovecot "$dovecot_before"
exit 0
