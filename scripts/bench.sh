#!/bin/sh
# bench.sh - twokey's benchmark (issue 2, "Speed"); `make bench` runs it
# after building the release binaries. Not part of `make test`.
#
# Usage: scripts/bench.sh BUILD_DIR      (e.g. build/release)
#   BENCH_SECONDS   seconds per load run (default 10)
#   BENCH_THREADS   client connections for the lifecycle run (default 16)
#   BENCH_SERVER_THREADS  `twokey serve --threads` (default: the server's)
#   BENCH_SUBJECTS  subjects in the generated bench org (default 2000)
#   BENCH_KEEP=1    keep the temporary directory (databases, logs)
#   BENCH_AUDIT_SECONDS  seconds per audit append run (default 2)
#   BENCH_AUDIT_EVENTS   events in the log the audit proofs read (default
#                   10000000)
#   BENCH_AUDIT_DB  where that log is kept between runs (default
#                   $TMPDIR/twokey-bench-audit-N.db, about 4.6 GB for 10M
#                   events; built the first time, ~6 min, then reused)
#
# Parts, each bounded in time, all on loopback in a temporary directory:
#   1. decision: bench_decision (C) and the same decision in Cedar
#      (bench/cedar, @cedar-policy/cedar-wasm from package-lock.json)
#   2. lifecycle: bench_lifecycle against `twokey serve` on a fresh
#      database (demo policy, standard tier: open, approve, execute) and
#      on a second one whose standard tier asks for evidence and two
#      approvals (open, evidence, approve, approve, execute)
#   3. wrk: GET /v1/cases/{id} with 64 connections
#   4. server RSS idle (demo org, bench org) and peak under load
#   5. audit log (issue 3): bench_audit on the real store (group-commit and
#      single-event appends against raw SQLite, full verification against
#      `openssl speed`, proofs and receipts on a 10M-event database),
#      fsyncs per commit counted with strace, the same appends on tmpfs,
#      and bench_merkle (the tree over in-memory tiles)
#   6. registered factor (issue 4): bench_otp, TOTP verification per call
#   7. LDAP password reset end to end (issue 4): bench/bench_ldap_reset.py
#   8. console pages (issue 5): bench_console, the queue page with 10,000
#      open cases and a case page, rendered through the console's pages
# Prints a table at the end; raw results go to $tmp/results.txt.
set -eu

B=${1:-build/release}
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_THREADS:-16}
NSUBJ=${BENCH_SUBJECTS:-2000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
TWOKEY=$B/twokey
for f in "$TWOKEY" "$B/bench/bench_decision" "$B/bench/bench_lifecycle" \
	"$B/bench/bench_audit"; do
	[ -x "$f" ] || { echo "bench: $f missing; run make bench" >&2; exit 1; }
done
for c in node npm wrk python3 curl timeout sqlite3; do
	command -v "$c" >/dev/null 2>&1 ||
		{ echo "bench: $c missing (scripts/deps.sh bench)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/twokey-bench.XXXXXX")
server_pid=""
shm=""
stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}
cleanup() {
	stop_server
	[ -z "$shm" ] || rm -rf "$shm"
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "bench: kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
res=$tmp/results.txt
: >"$res"
put() { printf '%s=%s\n' "$1" "$2" >>"$res"; }
get() { sed -n "s/^$1=//p" "$res" | tail -n 1; }
# jval KEY JSON: a number from a flat JSON object
jval() { printf '%s' "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
hwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
# cpu_ticks PID: utime+stime in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start_server DB: starts `twokey serve` on a free loopback port; sets
# server_pid and url.
start_server() {
	port=$(free_port)
	url="http://127.0.0.1:$port"
	if [ -n "${BENCH_SERVER_THREADS:-}" ]; then
		"$TWOKEY" serve --db "$1" --listen "127.0.0.1:$port" --quiet \
			--threads "$BENCH_SERVER_THREADS" >>"$tmp/server.log" 2>&1 &
	else
		"$TWOKEY" serve --db "$1" --listen "127.0.0.1:$port" --quiet \
			>>"$tmp/server.log" 2>&1 &
	fi
	server_pid=$!
	i=0
	until curl -fsS "$url/v1/health" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
			echo "bench: server did not start; log:" >&2
			cat "$tmp/server.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

# init_db DB ORG POLICY: a fresh database and tokens (tok_LOGIN)
token() { "$TWOKEY" token issue --db "$1" "$2" 2>/dev/null; }
init_db() {
	"$TWOKEY" init --db "$1" --org "$2" --policy "$3" >/dev/null
	tok_alice=$(token "$1" alice)
	tok_bob=$(token "$1" bob)
	tok_carol=$(token "$1" carol)
	tok_dave=$(token "$1" dave)
	tok_erin=$(token "$1" erin)
}

echo "== twokey bench ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cpus) =="

# ---- 1. one approval decision: C engine, then Cedar ---------------------
echo "-- decision: twokey engine (C)"
out=$(timeout 60 "$B/bench/bench_decision" --json)
echo "$out"
put decision_ns "$(jval decision_ns "$out")"
put decision_memcpy_ns "$(jval memcpy_ns "$out")"
put decision_full_ns "$(jval full_ns "$out")"

echo "-- decision: Cedar (@cedar-policy/cedar-wasm, bench/cedar)"
(cd bench/cedar && timeout 120 npm ci --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1) || {
	echo "bench: npm ci failed:" >&2; cat "$tmp/npm.log" >&2; exit 1; }
out=$(cd bench/cedar && timeout 60 node decision.js --seconds 5 --json)
echo "$out"
put cedar_us "$(jval is_authorized_us "$out")"
put cedar_stateful_us "$(jval stateful_is_authorized_us "$out")"
put cedar_version "$(jval sdk "$out")"

# ---- bench world: the demo org plus NSUBJ person subjects ---------------
python3 - "$tmp" "$NSUBJ" <<'EOF'
import sys
tmp, n = sys.argv[1], int(sys.argv[2])
with open("examples/demo/org.yaml") as f:
    org = f.read()
lines = [org.rstrip("\n")]
for i in range(n):
    lines.append('  - {id: u%d, kind: person, manager: henry, contacts: '
                 '[{phone: "+1 555 %07d"}, {email: u%d@example.com}]}' % (i, i, i))
with open(tmp + "/org.yaml", "w") as f:
    f.write("\n".join(lines) + "\n")
# The same policy with a standard tier that needs one piece of evidence
# and two approvals: the lifecycle issue 2 names (open, evidence, two
# approvals, execute) without a hold.
with open("examples/demo/policy.yaml") as f:
    pol = f.read()
old_ev, old_ap = "evidence: {count: 0}", "approvals: {count: 1}"
assert pol.count(old_ev) == 1 and pol.count(old_ap) == 1, "demo policy changed"
pol = pol.replace(old_ev, "evidence: {count: 1, methods: [callback_on_file]}")
pol = pol.replace(old_ap, "approvals: {count: 2}")
with open(tmp + "/policy-full.yaml", "w") as f:
    f.write(pol)
EOF

# ---- idle RSS with the demo org ------------------------------------------
init_db "$tmp/demo.db" examples/demo/org.yaml examples/demo/policy.yaml
start_server "$tmp/demo.db"
sleep 1
put rss_idle_demo_kb "$(rss_kb "$server_pid")"
stop_server

# ---- 2. lifecycle throughput ---------------------------------------------
# run_lifecycle NAME MODE POLICY [DBDIR]
run_lifecycle() {
	dbdir=${4:-$tmp}
	init_db "$dbdir/$1.db" "$tmp/org.yaml" "$3"
	start_server "$dbdir/$1.db"
	sleep 0.5
	put "rss_idle_bench_kb" "$(rss_kb "$server_pid")"
	echo "-- lifecycle ($2): $CONNS connections, ${SECS}s, server pid $server_pid"
	c0=$(cpu_ticks "$server_pid")
	set +e
	out=$(timeout $((SECS + 60)) "$B/bench/bench_lifecycle" --url "$url" \
		--subjects "$NSUBJ" --threads "$CONNS" --seconds "$SECS" \
		--lifecycle "$2" --json --token "alice=$tok_alice" \
		--token "bob=$tok_bob" --token "carol=$tok_carol" \
		--token "dave=$tok_dave" --token "erin=$tok_erin" 2>"$tmp/$1.err")
	rc=$?
	set -e
	c1=$(cpu_ticks "$server_pid")
	cat "$tmp/$1.err" >&2
	[ $rc -eq 0 ] || { echo "bench: lifecycle $2 failed" >&2; exit 1; }
	echo "$out"
	hz=$(getconf CLK_TCK)
	el=$(jval seconds "$out")
	put "${1}_cases_per_s" "$(jval cases_per_s "$out")"
	put "${1}_req_per_s" "$(jval requests_per_s "$out")"
	put "${1}_p99_ms" "$(jval req_p99_ms "$out")"
	put "${1}_errors" "$(jval errors "$out")"
	put "${1}_server_cpu" "$(python3 -c "print(round(($c1-$c0)/$hz/$el, 2))")"
	put "${1}_client_cpu" "$(jval client_cpu "$out")"
	put "${1}_rss_kb" "$(hwm_kb "$server_pid")"
}

run_lifecycle full full "$tmp/policy-full.yaml"
stop_server
# Diagnostic, not a result: the same run with the database in /dev/shm,
# where fdatasync costs nothing, shows the CPU-bound ceiling.
if [ -d /dev/shm ] && shm=$(mktemp -d /dev/shm/twokey-bench.XXXXXX); then
	run_lifecycle shm full "$tmp/policy-full.yaml" "$shm"
	stop_server
	rm -rf "$shm"
	shm=""
fi
run_lifecycle short short examples/demo/policy.yaml

# ---- 3. wrk GET /v1/cases/{id} --------------------------------------------
# The short run's database now holds thousands of cases; read one of them.
id=$(curl -fsS -H "Authorization: Bearer $tok_alice" \
	"$url/v1/cases?subject=u1&limit=1" | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["cases"][0]["id"])')
put stored_cases "$(sqlite3 "$tmp/short.db" 'select count(*) from cases' 2>/dev/null || echo '?')"
echo "-- wrk GET /v1/cases/$id: 64 connections, ${SECS}s"
timeout $((SECS + 30)) wrk -t2 -c64 -d"${SECS}s" --latency \
	-H "Authorization: Bearer $tok_alice" "$url/v1/cases/$id" >"$tmp/wrk.txt"
cat "$tmp/wrk.txt"
put wrk_req_per_s "$(sed -n 's/^Requests\/sec:[[:space:]]*//p' "$tmp/wrk.txt")"
put wrk_p99 "$(awk '$1 == "99%" {print $2}' "$tmp/wrk.txt")"
put wrk_non2xx "$(sed -n 's/^[[:space:]]*Non-2xx or 3xx responses:[[:space:]]*//p' "$tmp/wrk.txt")"
# The same over every stored case (the server caches rendered views; one
# id measures the cache, many ids mostly miss it).
sqlite3 "$tmp/short.db" 'select id from cases' >"$tmp/ids.txt"
echo "-- wrk GET /v1/cases/{id} over $(wc -l <"$tmp/ids.txt") ids: 64 connections, ${SECS}s"
timeout $((SECS + 30)) wrk -t2 -c64 -d"${SECS}s" --latency \
	-s bench/wrk/get_cases.lua "$url" -- "$tmp/ids.txt" "$tok_alice" >"$tmp/wrk2.txt"
cat "$tmp/wrk2.txt"
put wrk2_req_per_s "$(sed -n 's/^Requests\/sec:[[:space:]]*//p' "$tmp/wrk2.txt")"
put wrk2_p99 "$(awk '$1 == "99%" {print $2}' "$tmp/wrk2.txt")"
put wrk2_non2xx "$(sed -n 's/^[[:space:]]*Non-2xx or 3xx responses:[[:space:]]*//p' "$tmp/wrk2.txt")"
put rss_load_kb "$(hwm_kb "$server_pid")"
stop_server

# ---- 5. audit log (issue 3) ------------------------------------------------
# References measured here, in this run: `openssl speed` for SHA-256 (the
# limit of full verification), raw SQLite inside bench_audit (the limit
# of durable appends), strace for the fsyncs a commit costs.
AUDIT_SECS=${BENCH_AUDIT_SECONDS:-2}
AUDIT_N=${BENCH_AUDIT_EVENTS:-10000000}
AUDIT_DB=${BENCH_AUDIT_DB:-${TMPDIR:-/tmp}/twokey-bench-audit-$AUDIT_N.db}
AB=$B/bench/bench_audit
# aget NAME [FILE]: the value (second field) of a bench_audit line
aget() { awk -v n="$1" '$1 == n {print $2}' "${2:-$tmp/audit.txt}" | tail -n 1; }
if command -v openssl >/dev/null 2>&1; then
	echo "-- openssl speed -evp sha256 (256-byte blocks)"
	timeout 60 openssl speed -seconds 2 -bytes 256 -evp sha256 \
		>"$tmp/openssl.txt" 2>/dev/null || true
	grep -E '^(type|sha256)' "$tmp/openssl.txt" || true
	kb=$(awk '$1 == "sha256" {sub(/k$/, "", $2); print $2}' "$tmp/openssl.txt")
	if [ -n "$kb" ]; then
		put sha256_256_mbs "$(python3 -c "print('%.0f' % ($kb / 1000))")"
		put sha256_256_per_s "$(python3 -c "print('%.0f' % ($kb * 1000 / 256))")"
	fi
	put openssl_version "$(openssl version | awk '{print $2}')"
fi
echo "-- audit: bench_audit (proof log: $AUDIT_DB, $AUDIT_N events)"
mkdir -p "$tmp/audit"
timeout 3600 "$AB" --dir "$tmp/audit" --seconds "$AUDIT_SECS" \
	--case-ids seq --proof-db "$AUDIT_DB" --proof-events "$AUDIT_N" |
	tee "$tmp/audit.txt"
[ -n "$(aget "receipt.cold.$AUDIT_N")" ] ||
	{ echo "bench: bench_audit failed" >&2; exit 1; }
# Diagnostic: the same appends with the databases on tmpfs (fsync free,
# not durable) separate CPU from disk.
if [ -d /dev/shm ] && shm=$(mktemp -d /dev/shm/twokey-bench.XXXXXX); then
	echo "-- audit appends on tmpfs (diagnostic, not durable)"
	timeout 120 "$AB" --dir "$shm" --seconds "$AUDIT_SECS" --parts append,ref \
		--case-ids seq |
		sed 's/^\([a-z][a-z.]*\) /tmpfs.\1 /' | tee "$tmp/audit-tmpfs.txt"
	rm -rf "$shm"
	shm=""
fi
# Diagnostic: the same appends with random case ids (as before case ids
# began with the time), so the events table's case_id index takes random
# inserts instead of growing at its right edge.
echo "-- audit appends with random case ids (diagnostic)"
timeout 120 "$AB" --dir "$tmp/audit" --seconds "$AUDIT_SECS" --parts append,ref \
	--case-ids random | sed 's/^\([a-z][a-z.]*\) /seqids.\1 /' | tee "$tmp/audit-seqids.txt"
# fsync/fdatasync calls per commit: N commits minus 0 commits (the
# difference leaves out opening and creating the database).
fsyncs() {
	strace -f -c -e trace=fsync,fdatasync -o "$tmp/strace.txt" \
		"$AB" --dir "$tmp/audit" "$@" >/dev/null 2>&1 || return 1
	awk '$NF == "fsync" || $NF == "fdatasync" {n += $4} END {print n + 0}' \
		"$tmp/strace.txt"
}
if command -v strace >/dev/null 2>&1; then
	echo "-- audit: fsync/fdatasync per commit (strace -c -f)"
	s0=$(fsyncs --single-count 0) && s1=$(fsyncs --single-count 1000) &&
		put fsync_per_single "$(python3 -c "print('%.3f' % (($s1 - $s0) / 1000))")"
	b0=$(fsyncs --batch-count 0) && b1=$(fsyncs --batch-count 200) &&
		put fsync_per_batch "$(python3 -c "print('%.3f' % (($b1 - $b0) / 200))")"
	r0=$(fsyncs --parts ref --single-count 0) &&
		r1=$(fsyncs --parts ref --single-count 1000) &&
		put fsync_per_ref_single "$(python3 -c "print('%.3f' % (($r1 - $r0) / 1000))")"
	echo "single-event commit: $(get fsync_per_single) (raw SQLite one-row commit: $(get fsync_per_ref_single)); 256-event commit: $(get fsync_per_batch)"
else
	echo "-- audit: strace missing; fsyncs per commit not counted"
fi
if [ -x "$B/bench/bench_merkle" ]; then
	echo "-- audit: bench_merkle (the tree over in-memory tiles, 10M leaves)"
	timeout 300 "$B/bench/bench_merkle" --json | tee "$tmp/merkle.json"
	for k in inclusion_random consistency_random inclusion_latest consistency_latest; do
		for f in warm_us cold_us cold_p99_us; do
			put "merkle_${k}_$f" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' \
				"$tmp/merkle.json" "$k" "$f")"
		done
	done
fi

# ---- table -----------------------------------------------------------------
mb() { python3 -c "print('%.1f' % ($1 / 1024))"; }
echo
echo "| measure | result | target |"
echo "|---|---|---|"
printf '| approval decision, twokey C engine | %s ns | <= 2000 ns |\n' "$(get decision_ns)"
printf '| (memcpy of a %s case, not included) | %s ns | |\n' "prepared" "$(get decision_memcpy_ns)"
printf '| same decision, Cedar %s isAuthorized | %s µs | ~180 µs (issue) |\n' "$(get cedar_version)" "$(python3 -c "print('%.1f' % $(get cedar_us))")"
printf '| same decision, Cedar statefulIsAuthorized (pre-parsed) | %s µs | |\n' "$(python3 -c "print('%.1f' % $(get cedar_stateful_us))")"
lc() {
	printf '| %s | %s cases/s (%s req/s, p99 %s ms; CPUs: server %s, client %s) | %s |\n' \
		"$2" "$(get "$1"_cases_per_s)" "$(get "$1"_req_per_s)" "$(get "$1"_p99_ms)" \
		"$(get "$1"_server_cpu)" "$(get "$1"_client_cpu)" "$3"
}
lc full "lifecycle open+evidence+2 approvals+execute, durable" ">= 1500 cases/s"
lc short "lifecycle open+approve+execute (demo standard), durable" ""
if [ -n "$(get shm_cases_per_s)" ]; then
	lc shm "(diagnostic) full lifecycle, db on tmpfs, no real fsync" ""
fi
printf '| wrk GET /v1/cases/{id}, one id, 64 conns | %s req/s, p99 %s (non-2xx: %s) | >= 15000 req/s, p99 < 10 ms |\n' \
	"$(get wrk_req_per_s)" "$(get wrk_p99)" "$(get wrk_non2xx | sed 's/^$/0/')"
printf '| wrk GET /v1/cases/{id}, all stored ids, 64 conns | %s req/s, p99 %s (non-2xx: %s) | >= 15000 req/s, p99 < 10 ms |\n' \
	"$(get wrk2_req_per_s)" "$(get wrk2_p99)" "$(get wrk2_non2xx | sed 's/^$/0/')"
printf '| RSS idle, demo org | %s MB | < 20 MB |\n' "$(mb "$(get rss_idle_demo_kb)")"
printf '| RSS idle, bench org (%s subjects) | %s MB | |\n' "$NSUBJ" "$(mb "$(get rss_idle_bench_kb)")"
printf '| RSS peak under load (%s cases stored) | %s MB | < 64 MB with 1M cases |\n' "$(get stored_cases)" "$(mb "$(get rss_load_kb)")"
printf '| 1 million stored cases | not measured | |\n'

# audit table
ar() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }
echo
echo "| audit log (issue 3) | result | target | reference, same run |"
echo "|---|---|---|---|"
ar "durable appends, 256 per commit" "$(aget append.group) events/s" ">= 100000 events/s" \
	"raw SQLite plain table $(aget ref.sqlite.group) rows/s; events table + index $(aget ref.sqlite.group.events) rows/s"
ar "single-event commits" "$(aget append.single) events/s" "" "raw SQLite one-row commits $(aget ref.sqlite.single) rows/s"
ar "fsyncs per single-event commit (strace)" "$(get fsync_per_single)" "<= 1" \
	"raw SQLite $(get fsync_per_ref_single); per 256-event commit $(get fsync_per_batch)"
sf=$tmp/audit-seqids.txt
ar "(diagnostic) appends, random case ids" "$(aget seqids.append.group "$sf") events/s" "" \
	"raw SQLite plain table $(aget seqids.ref.sqlite.group "$sf") rows/s; events table + index $(aget seqids.ref.sqlite.group.events "$sf") rows/s"
if [ -s "$tmp/audit-tmpfs.txt" ]; then
	tf=$tmp/audit-tmpfs.txt
	ar "(diagnostic) appends on tmpfs, not durable" "$(aget tmpfs.append.group "$tf") events/s" "" \
		"raw SQLite plain table $(aget tmpfs.ref.sqlite.group "$tf") rows/s; events table + index $(aget tmpfs.ref.sqlite.group.events "$tf") rows/s"
fi
ar "full verification = twokey audit verify (rows, leaves, tree, checkpoints; one pass)" "$(aget verify.tree) events/s" ">= 2000000 events/s" \
	"openssl sha256 256 B: $(get sha256_256_per_s) blocks/s ($(get sha256_256_mbs) MB/s); hashing alone $(aget verify.hashonly) events/s"
ar "(diagnostic) row check alone (tk_chain_verify)" "$(aget verify.rows) events/s" "" ""
ar "inclusion proof, store, $AUDIT_N events, random sizes, warm" "$(aget proof.inclusion.random.warm) µs" "< 100 µs" \
	"tiles in memory (bench_merkle): $(get merkle_inclusion_random_cold_us) µs uncached, $(get merkle_inclusion_random_warm_us) µs cached"
ar "inclusion proof, store, latest size, warm" "$(aget proof.inclusion.latest.warm) µs" "< 100 µs" \
	"bench_merkle $(get merkle_inclusion_latest_cold_us) µs uncached"
ar "inclusion proof, store, tiles cached (hot)" "$(aget proof.inclusion.hot) µs" "< 100 µs" ""
ar "inclusion proof, store, cold (page cache dropped)" "$(aget proof.inclusion.cold) µs" "< 100 µs" ""
ar "consistency proof, store, random sizes, warm" "$(aget proof.consistency.random.warm) µs" "< 100 µs" \
	"bench_merkle $(get merkle_consistency_random_cold_us) µs uncached, $(get merkle_consistency_random_warm_us) µs cached"
ar "consistency proof, store, to latest size, warm" "$(aget proof.consistency.latest.warm) µs" "< 100 µs" \
	"bench_merkle $(get merkle_consistency_latest_cold_us) µs uncached"
ar "consistency proof, store, cold" "$(aget proof.consistency.cold) µs" "< 100 µs" ""
ar "receipt, 30-event case, $AUDIT_N-event log, warm" "$(aget "receipt.warm.$AUDIT_N") µs" "< 1000 µs" ""
ar "receipt, 30-event case, cold" "$(aget "receipt.cold.$AUDIT_N") µs" "< 1000 µs" ""

# ---- 6. registered factor (issue 4) -----------------------------------------
if [ -x "$B/bench/bench_otp" ]; then
	echo
	echo "-- registered factor: bench_otp (1,000,000 calls, median of 3 runs)"
	out=$(timeout 120 "$B/bench/bench_otp" --json)
	echo "$out"
	echo
	echo "| registered factor (issue 4) | result | target |"
	echo "|---|---|---|"
	printf '| TOTP verification, tk_totp_match (SHA1, 6 digits, window 1) | %s ns | < 5000 ns |\n' \
		"$(jval totp_match_ns "$out")"
	printf '| (one HOTP code, tk_hotp) | %s ns | |\n' "$(jval hotp_ns "$out")"
fi

# ---- 7. LDAP password reset end to end (issue 4) ------------------------------
# A real slapd (ppolicy), the server with a directory file, an SMTP receiver
# for the temporary password and a webhook for the session revocation.
if command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; then
	echo
	echo "-- LDAP password reset through the API (open -> executed, holds off)"
	out=$(timeout 300 python3 bench/bench_ldap_reset.py "$TWOKEY" 300 --json)
	echo "$out"
	echo
	echo "| execution (issue 4) | result | target |"
	echo "|---|---|---|"
	printf '| LDAP password reset, open -> executed, median (p90) | %s ms (%s ms) | < 25 ms median |\n' \
		"$(jval median_ms "$out")" "$(jval p90_ms "$out")"
fi

# ---- 8. console pages (issue 5) ---------------------------------------------
if [ -x "$B/bench/bench_console" ]; then
	echo
	echo "-- console: bench_console (queue page with 10,000 open cases, a case page)"
	out=$(timeout 600 "$B/bench/bench_console" --subjects 5000 --runs 200 --json)
	echo "$out"
	echo
	echo "| console (issue 5) | result | target |"
	echo "|---|---|---|"
	printf '| queue page, %s open cases, median (p99) | %s ms (%s ms) | < 20 ms |\n' \
		"$(jval open_cases "$out")" "$(jval queue_median_ms "$out")" "$(jval queue_p99_ms "$out")"
	printf '| case page, median (p99) | %s ms (%s ms) | < 5 ms |\n' \
		"$(jval case_median_ms "$out")" "$(jval case_p99_ms "$out")"
fi
