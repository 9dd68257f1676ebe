#!/bin/sh
# Install the Debian 12 packages postern needs to build and to run its
# tests.  Idempotent: does nothing when every package is present.
# Runs unattended (CI has no stdin): Postfix is preseeded to
# "No configuration" and every daemon a package starts is stopped, since
# the tests run their own instances on ports they pick.
set -eu

BUILD="gcc clang libclang-rt-14-dev make meson ninja-build pkg-config libssl-dev libevent-dev \
libcrypt-dev libidn-dev libcmocka-dev openssl"
TEST="python3 python3-pytest python3-pytest-xdist python3-pytest-timeout python3-aiosmtpd swaks libnet-ssleay-perl \
libio-socket-ssl-perl libauthen-sasl-perl libdigest-hmac-perl msmtp curl \
gsasl emacs-nox postfix dovecot-core git git-email libmailtools-perl ca-certificates procps"

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

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# Keep package scripts from starting daemons (policy-rc.d, Debian policy 9.3.3).
had_policy=0
[ -e /usr/sbin/policy-rc.d ] && had_policy=1
if [ $had_policy -eq 0 ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
fi
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing </dev/null
[ $had_policy -eq 0 ] && rm -f /usr/sbin/policy-rc.d
# Stop whatever got started anyway (no systemd in containers: use the tools).
for svc in postfix dovecot; do
	if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done
pkill -x master 2>/dev/null || true
pkill -x dovecot 2>/dev/null || true
exit 0
