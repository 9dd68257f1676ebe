#!/bin/sh
# run-demo.sh POSTERN - `make run`: a working demo server in ./run/.
# Creates ./run/ once (self-signed certificate for localhost, config,
# spool, a demo user with a random password), prints how to send a
# first message, then runs `postern serve` in the foreground (Ctrl-C
# stops it).  Ports: 10587 submission, 10465 submissions, 10025 smtp.
set -eu
POSTERN=${1:-build/postern}
case $POSTERN in /*) ;; *) POSTERN=$(pwd)/$POSTERN ;; esac
RUN=$(pwd)/run
USER_NAME=demo@example.test

[ -x "$POSTERN" ] || { echo "run-demo: $POSTERN is missing; run 'make' first" >&2; exit 1; }

if [ ! -f "$RUN/postern.conf" ]; then
	mkdir -p "$RUN"
	chmod 700 "$RUN"
	# Two self-signed certificates, as a real server has them: ECDSA
	# P-256 (a seventh of RSA's signing cost, taken by every current
	# client) and RSA-2048 for the clients that know nothing else;
	# OpenSSL picks one per handshake.  trust.pem holds both, for the
	# clients below.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$RUN/key.pem" -out "$RUN/cert.pem" -days 365 -subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes \
		-keyout "$RUN/rsa-key.pem" -out "$RUN/rsa-cert.pem" -days 365 -subj /CN=localhost \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
	chmod 600 "$RUN/key.pem" "$RUN/rsa-key.pem"
	cat "$RUN/cert.pem" "$RUN/rsa-cert.pem" >"$RUN/trust.pem"
	cat >"$RUN/postern.conf" <<EOF
# postern demo config, made by scripts/run-demo.sh (see DESIGN.md for every key)
hostname        = localhost
listen          = 127.0.0.1:10587 submission
listen          = 127.0.0.1:10465 submissions
listen          = 127.0.0.1:10025 smtp
tls_certificate = rsa-cert.pem
tls_key         = rsa-key.pem
tls_certificate = cert.pem
tls_key         = key.pem
credentials     = file:users
auth_mechanisms = SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN
plaintext_auth  = tls-only
submission_tls  = required
spool           = spool
local_domains   = example.test
EOF
	password=$(openssl rand -base64 18 | tr -d '/+=' | cut -c1-20)
	umask 077
	printf '%s\n' "$password" >"$RUN/demo-password"
	printf '%s\n' "$password" | "$POSTERN" passwd -c "$RUN/postern.conf" add "$USER_NAME" >/dev/null
	echo "run-demo: created $RUN with user $USER_NAME, password: $password"
	echo "run-demo: (the password is also in run/demo-password, mode 0600)"
fi

# Started as root, the network process runs as `user` (doc/architecture.md):
# postern when that user exists, else nobody.  Older run/ folders lack the line.
if ! grep -q '^user[[:space:]]*=' "$RUN/postern.conf"; then
	if id postern >/dev/null 2>&1; then demo_user=postern; else demo_user=nobody; fi
	printf 'user            = %s\n' "$demo_user" >>"$RUN/postern.conf"
fi

# serve --check binds every port and closes it again: a busy port is
# named here ("listen 127.0.0.1:10587: Address already in use").
if ! "$POSTERN" serve -c "$RUN/postern.conf" --check >/dev/null; then
	echo "run-demo: cannot start (see above); is another server on 10587/10465/10025?" >&2
	exit 1
fi

# Demo folders made before the RSA pair came have cert.pem alone.
TRUST=run/trust.pem
[ -f "$RUN/trust.pem" ] || TRUST=run/cert.pem

cat <<EOF

postern demo server: submission 127.0.0.1:10587 (STARTTLS), submissions 127.0.0.1:10465 (TLS),
smtp 127.0.0.1:10025.  User $USER_NAME, password in run/demo-password.

Send a first message (in another terminal, from $(pwd)):

  swaks --server 127.0.0.1:10587 --tls --tls-ca-path $TRUST \\
        --auth PLAIN --auth-user $USER_NAME --auth-password "\$(cat run/demo-password)" \\
        --from $USER_NAME --to friend@elsewhere.test

  printf 'Subject: hello\\r\\n\\r\\nfirst message\\r\\n' > /tmp/msg.txt
  curl --url smtps://127.0.0.1:10465 --cacert $TRUST \\
       --user "$USER_NAME:\$(cat run/demo-password)" \\
       --mail-from $USER_NAME --mail-rcpt friend@elsewhere.test --upload-file /tmp/msg.txt

Then see it in the spool:

  $POSTERN queue -c run/postern.conf list

Stopping: Ctrl-C.  Starting over: rm -rf run.
EOF
exec "$POSTERN" serve -c "$RUN/postern.conf"
