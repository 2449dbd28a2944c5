#!/usr/bin/env bash
# Status page serving benchmark (issue 5): wrk with 64 connections against herald's
# /api/v2/summary.json and / , side by side in the same run with nginx serving the same bytes
# as static files; then the same against herald while its PostgreSQL database is locked and
# while it is stopped (refusing connections). Prints requests/s and p99 latency for each and
# herald's ratio to nginx.
#
#   bash bench/status_page.sh            # 10 s per run
#   DURATION=30 bash bench/status_page.sh
#
# Needs wrk and nginx (Debian packages wrk, nginx-light; installed if missing), the machine's
# PostgreSQL (postgres@127.0.0.1:5432, trust auth) and psql.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
PG_ADMIN="${HERALD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { apt-get install -y -qq wrk nginx-light >/dev/null; break; }
done
cargo build --release -q -p herald
BIN=target/release/herald

work=$(mktemp -d)
db="herald_bench_status_$$"
psql "$PG_ADMIN" -qc "CREATE DATABASE $db"
url="${PG_ADMIN%/*}/$db"
cleanup() {
  kill "${herald_pid:-}" "${node2_pid:-}" "${lock_pid:-}" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  psql "$PG_ADMIN" -qc "ALTER DATABASE $db ALLOW_CONNECTIONS true" >/dev/null 2>&1 || true
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

export HERALD_DATABASE_URL="$url" HERALD_STORE__NAME="Sandstone Pottery" HERALD_STORE__TIME_ZONE="America/New_York"
export HERALD_LOG__LEVEL=warn
token=$($BIN token create --name bench)
$BIN serve --listen 127.0.0.1:18181 >"$work/herald.log" 2>&1 &
herald_pid=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18181/healthz >/dev/null && break; sleep 0.1; done

api() { curl -sf -H "authorization: Bearer $token" -H 'content-type: application/json' "$@"; }
# A realistic page: two groups, eight components, an open incident with three updates,
# an upcoming maintenance.
ids=()
for c in "Storefront:Browsing" "Storefront:Search" "Storefront:Checkout" "Storefront:Accounts" \
         "Fulfilment:Order tracking" "Fulfilment:Label printing" "Fulfilment:Returns" "Fulfilment:E-mail"; do
  ids+=("$(api -X POST http://127.0.0.1:18181/api/v1/status/components \
    -d "{\"name\":\"${c#*:}\",\"group\":\"${c%%:*}\",\"description\":\"${c#*:} for customers\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
done
inc=$(api -X POST http://127.0.0.1:18181/api/v1/status/incidents -d "{\"name\":\"Card payments fail for some customers\",\"body\":\"Some card payments fail at checkout. PayPal still works.\",\"components\":{\"${ids[2]}\":\"partial_outage\"},\"next_update_in_minutes\":60}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
api -X POST "http://127.0.0.1:18181/api/v1/status/incidents/$inc/updates" -d '{"status":"identified","body":"Our card processor has an outage; we are switching to the backup processor."}' >/dev/null
api -X POST "http://127.0.0.1:18181/api/v1/status/incidents/$inc/updates" -d '{"status":"identified","body":"The switch is under way; about half of the card payments go through again.","estimated_restore_at":"2099-01-01T00:00:00Z"}' >/dev/null
api -X POST http://127.0.0.1:18181/api/v1/status/maintenances -d "{\"name\":\"Tracking upgrade\",\"body\":\"Tracking pages pause for ten minutes.\",\"scheduled_for\":\"2099-01-01T02:00:00Z\",\"scheduled_until\":\"2099-01-01T03:00:00Z\",\"components\":[\"${ids[4]}\"]}" >/dev/null

# nginx serves the same bytes as static files.
mkdir -p "$work/www"
curl -sf http://127.0.0.1:18181/api/v2/summary.json -o "$work/www/summary.json"
curl -sf http://127.0.0.1:18181/ -o "$work/www/index.html"
cat >"$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx.error.log;
events { worker_connections 1024; }
http {
  access_log off;
  types { text/html html; application/json json; }
  server {
    listen 127.0.0.1:18182;
    root $work/www;
  }
}
NGINX
chmod -R a+rX "$work"   # nginx's workers run as www-data
nginx -c "$work/nginx.conf" -p "$work"
# Both must answer 200 with the same bytes, or the comparison means nothing.
cmp <(curl -sf http://127.0.0.1:18182/summary.json) <(curl -sf http://127.0.0.1:18181/api/v2/summary.json)
sleep 0.5

# wrk's requests/s and p99 latency in ms.
measure() {
  wrk -t2 -c64 -d"${DURATION}s" --latency "$1" | python3 -c '
import re, sys
t = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", t)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {p99:.2f} {non2xx.group(1) if non2xx else 0}")'
}

row() { printf '%-34s %12s %10s %8s %9s\n' "$@"; }
echo "status page serving, wrk -t2 -c64 -d${DURATION}s, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
row "surface" "requests/s" "p99 ms" "errors" "vs nginx"
for pair in "/api/v2/summary.json:summary.json" "/:index.html"; do
  path=${pair%%:*}; file=${pair#*:}
  read -r n_rps n_p99 n_err < <(measure "http://127.0.0.1:18182/$file")
  read -r h_rps h_p99 h_err < <(measure "http://127.0.0.1:18181$path")
  row "nginx $path" "$n_rps" "$n_p99" "$n_err" ""
  row "herald $path" "$h_rps" "$h_p99" "$h_err" "$(python3 -c "print(f'{$h_rps/$n_rps:.2f}')")"
  eval "nginx_${file%%.*}=$n_rps"
done

# A second node on the same database: how long until a change made through the first is
# served by it (five changes, each timed until the second node's JSON shows it).
$BIN serve --listen 127.0.0.1:18183 >"$work/herald2.log" 2>&1 &
node2_pid=$!
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18183/healthz >/dev/null && break; sleep 0.1; done
sleep 1.5
for s in major_outage operational degraded_performance operational partial_outage; do
  start=$(date +%s%N)
  api -X PATCH "http://127.0.0.1:18181/api/v1/status/components/${ids[7]}" -d "{\"status\":\"$s\"}" >/dev/null
  until curl -sf http://127.0.0.1:18183/api/v2/components.json | grep -q "\"id\":\"${ids[7]}\",\"name\":\"E-mail\",\"status\":\"$s\""; do
    sleep 0.02
    (( $(date +%s%N) - start < 10000000000 )) || { echo "the second node never served the change"; exit 1; }
  done
  echo "second node serves the change after $(( ($(date +%s%N) - start) / 1000000 )) ms"
done
kill "$node2_pid"
api -X PATCH "http://127.0.0.1:18181/api/v1/status/components/${ids[7]}" -d '{"status":"operational"}' >/dev/null

# The database locked: a session holds an exclusive lock on the status counter.
psql "$url" -qc "BEGIN; LOCK TABLE status_meta IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($((DURATION * 2 + 10))); COMMIT;" >/dev/null 2>&1 &
lock_pid=$!
sleep 1
for pair in "/api/v2/summary.json:summary" "/:index"; do
  path=${pair%%:*}; base=${pair#*:}
  read -r h_rps h_p99 h_err < <(measure "http://127.0.0.1:18181$path")
  n=$(eval echo "\$nginx_$base")
  row "herald $path (db locked)" "$h_rps" "$h_p99" "$h_err" "$(python3 -c "print(f'{$h_rps/$n:.2f}')")"
done
kill "$lock_pid" 2>/dev/null || true
psql "$PG_ADMIN" -qc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%pg_sleep%'" >/dev/null

# The database stopped: it refuses connections and drops the open ones.
psql "$PG_ADMIN" -qc "ALTER DATABASE $db ALLOW_CONNECTIONS false" >/dev/null
psql "$PG_ADMIN" -qc "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db'" >/dev/null
sleep 2
for pair in "/api/v2/summary.json:summary" "/:index"; do
  path=${pair%%:*}; base=${pair#*:}
  read -r h_rps h_p99 h_err < <(measure "http://127.0.0.1:18181$path")
  n=$(eval echo "\$nginx_$base")
  row "herald $path (db stopped)" "$h_rps" "$h_p99" "$h_err" "$(python3 -c "print(f'{$h_rps/$n:.2f}')")"
done
curl -sf http://127.0.0.1:18181/ | grep -q "could not be refreshed since" && echo "the page says since when it has not been refreshed"
