#!/usr/bin/env bash
# Tracking events (issue 3) counted in CPU instructions instead of seconds: how many instructions
# herald's server spends on one batch of 1,000 tracking events through POST /api/v1/tracking-events
# (request, checks, storing, the problem rules, the commit), against the raw batched insert of the
# same rows, both counted by valgrind's callgrind. Instruction counts do not move with the
# machine's load the way timings do on a small shared machine, so this shows what a change to
# herald's CPU work per batch does, to within a fraction of a per cent; it does not replace the
# timed benchmark (`cargo bench -p herald --bench orders -- tracking`), since waits for the disk
# and the use of two cores are not counted.
#
#   bash bench/tracking_instructions.sh
#
# Needs valgrind (Debian package valgrind; installed if missing) and curl. Takes a few minutes:
# the server runs about fifty times slower under callgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || apt-get install -y -qq valgrind >/dev/null
cargo build --release -q -p herald
bench=$(cargo bench -q -p herald --bench orders --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "orders" and m.get("executable"):
        print(m["executable"])')
work=$(mktemp -d)
cleanup() {
  kill "${herald_pid:-}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The first ten batches carry the acceptance scans; batches 10 to 29, scans in transit, are
# counted. The seller allows ten business days before a first scan, as in the timed benchmark
# (its NOT_ACCEPTED_BUSINESS_DAYS): the parcels were labelled 62 hours before they are scanned.
"$bench" tracking-prepare "$work" >/dev/null
port=$((20000 + RANDOM % 10000))
HERALD_LOG__LEVEL=warn HERALD_STORE__TIME_ZONE=America/Phoenix \
  HERALD_WATCH__NOT_ACCEPTED_BUSINESS_DAYS=10 \
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/herald.out" \
  target/release/herald --database-url "sqlite://$work/tracking.db" serve \
  --listen "127.0.0.1:$port" >"$work/herald.log" 2>&1 &
herald_pid=$!
for _ in $(seq 300); do
  curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break
  sleep 1
done
post() {
  curl -fs -o /dev/null -H "authorization: Bearer $(cat "$work/token")" \
    -H 'content-type: application/json' --data-binary "@$work/body$1.json" \
    "http://127.0.0.1:$port/api/v1/tracking-events"
}
for i in $(seq 0 9); do post "$i"; done
callgrind_control -i on "$herald_pid" >/dev/null 2>&1
for i in $(seq 10 29); do post "$i"; done
callgrind_control -i off "$herald_pid" >/dev/null 2>&1
kill -INT "$herald_pid"
wait "$herald_pid" || true
herald_pid=
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
herald=$(total "$work/herald.out")

# The raw insert: the whole bench process inserting 30 batches, less the same inserting 10.
for n in 10 30; do
  valgrind --tool=callgrind --callgrind-out-file="$work/raw$n.out" \
    "$bench" tracking-raw "$work" "$n" >/dev/null 2>&1
  rm -f "$work"/raw.db*
done
raw=$(($(total "$work/raw30.out") - $(total "$work/raw10.out")))

awk -v h="$herald" -v r="$raw" 'BEGIN {
  printf "tracking_instructions: herald %.1f M instructions per batch of 1000 events (rules evaluated), raw insert %.1f M, raw/herald %.3f\n", h / 20e6, r / 20e6, r / h
}'
