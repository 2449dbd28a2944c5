#!/usr/bin/env bash
# The standard simulation's wall time against its 30-second target: builds herald in release,
# runs `herald simulate --days 30 --orders-per-day 200 --seed 7` three times, prints each time,
# the best, its ratio to the target, and checks the three reports are identical.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p herald >/dev/null
bin=target/release/herald
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
best=
for i in 1 2 3; do
  start=$(date +%s.%N)
  "$bin" simulate --days 30 --orders-per-day 200 --seed 7 --report "$dir/report$i.json" >"$dir/out$i.txt"
  end=$(date +%s.%N)
  t=$(awk "BEGIN { printf \"%.1f\", $end - $start }")
  echo "run $i: ${t} s"
  if [ -z "$best" ] || awk "BEGIN { exit !($t < $best) }"; then best=$t; fi
done
cmp -s "$dir/report1.json" "$dir/report2.json" && cmp -s "$dir/report1.json" "$dir/report3.json" \
  && echo "reports: identical" || { echo "reports differ between runs"; exit 1; }
echo "best: ${best} s; ratio to the 30 s target: $(awk "BEGIN { printf \"%.2f\", $best / 30 }")"
cat "$dir/out1.txt"
