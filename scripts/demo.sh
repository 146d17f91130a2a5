#!/usr/bin/env bash
# demo.sh - starts a twokey demo server: a fresh ./demo-data/ with the demo
# org and policy (examples/demo), an API token for every demo staff member
# (also written to demo-data/tokens.env), a console password and sign-in
# TOTP factor for each (demo-data/console.txt), the server on
# 127.0.0.1:8080, and
# a copy-paste walk-through of an admin MFA reset. Ctrl-C stops it.
#
# Usage: scripts/demo.sh PATH/TO/twokey   (what `make demo` runs)
set -euo pipefail

bin=${1:-build/release/twokey}
addr=127.0.0.1
port=8080
data=demo-data
db=$data/twokey.db
org=examples/demo/org.yaml
policy=examples/demo/policy.yaml

die() { echo "demo: $*" >&2; exit 1; }

cd "$(dirname "$0")/.."
[ -x "$bin" ] || die "no twokey binary at $bin; run \`make\` first"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

# Refuse when something already listens on the port.
if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then
	die "port $port on $addr is already in use (another demo?); stop it" \
	    "first, e.g. find it with: ss -ltnp 'sport = :$port'"
fi

rm -rf "$data"
mkdir -p "$data"
chmod 700 "$data"
"$bin" init --db "$db" --org "$org" --policy "$policy"
# radmin's authenticator: the URI (and QR code) twokey printed once
(umask 077; "$bin" factor enroll --db "$db" radmin >"$data/radmin-factor.txt" \
    2>/dev/null) || die "could not enrol radmin's TOTP factor"

# Every staff login in the demo org, with its function.
logins=$(sed -n 's/^ *- *{ *login: *\([A-Za-z0-9_.-]*\).*/\1/p' "$org")
[ -n "$logins" ] || die "no staff found in $org"

umask 077
: >"$data/tokens.env"
for u in $logins; do
	t=$("$bin" token issue --db "$db" "$u" 2>/dev/null) ||
	    die "could not issue a token for $u"
	echo "TOKEN_$(echo "$u" | tr '[:lower:]-' '[:upper:]_')=$t" \
	    >>"$data/tokens.env"
done

# Console sign-in for every staff member: a generated password and a
# sign-in TOTP factor (URI in $data/console-LOGIN.txt for scripts/totp.py).
: >"$data/console.txt"
for u in $logins; do
	pw=$("$bin" account password --db "$db" "$u" 2>/dev/null) ||
	    die "could not set a console password for $u"
	"$bin" account totp --db "$db" "$u" >"$data/console-$u.txt" \
	    2>/dev/null || die "could not enrol a sign-in factor for $u"
	uri=$(sed -n 1p "$data/console-$u.txt")
	echo "$u $pw $uri" >>"$data/console.txt"
done

"$bin" serve --db "$db" --listen "$addr:$port" --quiet &
server=$!
stop() {
	trap - INT TERM
	echo
	echo "demo: stopping the server"
	kill -TERM "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	exit 0
}
trap stop INT TERM

url="http://$addr:$port"
for _ in $(seq 1 100); do
	if ! kill -0 "$server" 2>/dev/null; then
		wait "$server" || true
		die "the server did not start (see the message above)"
	fi
	if curl -fsS "$url/v1/health" >/dev/null 2>&1; then
		break
	fi
	sleep 0.1
done
curl -fsS "$url/v1/health" >/dev/null 2>&1 ||
    die "the server does not answer on $url/v1/health"

fn_of() {
	sed -n "s/^ *- *{ *login: *$1,.*function: *\"\{0,1\}\([a-z]*\)\"\{0,1\}.*/\1/p" \
	    "$org" | head -n 1
}

cat <<EOF

twokey demo is running at $url  (database: $db)

Staff logins and their API tokens (also in $data/tokens.env):
EOF
while IFS='=' read -r var tok; do
	u=$(echo "${var#TOKEN_}" | tr '[:upper:]_' '[:lower:]-')
	f=$(fn_of "$u")
	printf '  %-7s %-9s %s\n' "$u" "${f:--}" "$tok"
done <"$data/tokens.env"

cat <<EOF

Web console: open $url/ and sign in with a login, its password and the
code from an authenticator app (scan the URI, or let scripts/totp.py
play the app: python3 scripts/totp.py $data/console-LOGIN.txt).
Also in $data/console.txt:
EOF
while read -r u pw uri; do
	printf '  %-7s %s  %s\n' "$u" "$pw" "$uri"
done <"$data/console.txt"

cat <<EOF

Walk-through: an MFA reset for radmin (labels: admin -> tier critical).
Copy and paste into another terminal, from $(pwd):

  export TWOKEY_URL=$url
  . $data/tokens.env
  tk() { TWOKEY_TOKEN="\$1" $bin "\${@:2}"; }

  # what the policy asks for, and which rule and owner say so
  $bin policy explain --db $db --subject radmin --action mfa_reset --ticket INC-1042

  # alice (help desk) takes the call and opens a case
  ID=\$(tk \$TOKEN_ALICE case open -q --subject radmin --action mfa_reset \\
        --channel phone --ticket INC-1042 --reason lost_device \\
        --justification "caller says the phone was lost")
  tk \$TOKEN_ALICE case show \$ID           # state verifying; missing + eligible staff

  # evidence by others than alice, through contacts on file
  tk \$TOKEN_BOB  case evidence \$ID --method callback_on_file --contact "+1 555 0103" --reference "called back"
  # radmin reads the code from the authenticator enrolled with
  # \`twokey factor enroll\` (scripts/totp.py plays the app); twokey checks it
  tk \$TOKEN_DAVE case evidence \$ID --method registered_factor --code \$(python3 $(pwd)/scripts/totp.py $data/radmin-factor.txt)

  # alice cannot approve her own case (invariant 1): 403 sod_violation
  tk \$TOKEN_ALICE case approve \$ID

  # dual approval: erin (help desk) and carol (security, outside the support chain)
  tk \$TOKEN_ERIN  case approve \$ID --comment "verified by the desk"
  tk \$TOKEN_CAROL case approve \$ID --comment "security ok"   # -> on_hold (4h)

  # executing during the hold is refused with 409 and the hold's end
  tk \$TOKEN_FRANK case execute \$ID --note "reset MFA in the IdP" --revoked sessions,tokens

  # after the hold ends (4h in this policy), frank (ir) executes:
  #   tk \$TOKEN_FRANK case execute \$ID --note "reset MFA in the IdP" --revoked sessions,tokens
  # in an emergency frank could instead declare break-glass, which skips the
  # hold, alerts at once and opens a 24h post-event review:
  #   tk \$TOKEN_FRANK case break-glass \$ID --incident IR-7 --justification "active intrusion"

  tk \$TOKEN_IVAN case show \$ID           # the full timeline, refusals included
  $bin audit verify --db $db

Or with curl:
  curl -s -H "Authorization: Bearer \$TOKEN_ALICE" $url/v1/me

Stop the server with Ctrl-C here.
EOF

# The server runs until Ctrl-C (trapped above) or until it exits.
set +e
wait "$server"
rc=$?
trap - INT TERM
exit "$rc"
