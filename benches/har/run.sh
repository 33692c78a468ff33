#!/usr/bin/env bash
# HAR reader benchmark: throughput and peak RSS of authtap vs Python's json.load, same file, same run.
#
# Usage: benches/har/run.sh [MEGABYTES=200] [RUNS=3]
# Env:   BENCH_DIR (default /tmp/authtap-har-bench) holds the generated HAR (reused if present).
#
# Builds release, generates a Management API HAR with benches/har/gen_har.py, then times:
#   1. `target/release/authtap analyze --format json FILE` when it produces a JSON report,
#      otherwise `target/release/examples/har_count FILE` (format detection + streamed read_har);
#   2. python3 -c 'import json,sys; json.load(open(sys.argv[1]))' FILE.
# Each is run RUNS times with the file in the page cache; the best wall time and the largest
# peak RSS (from /usr/bin/time -v) are reported. Targets: >= 300 MB/s, peak RSS <= 128 MiB.
set -euo pipefail

cd "$(dirname "$0")/../.."
MB="${1:-200}"
RUNS="${2:-3}"
DIR="${BENCH_DIR:-/tmp/authtap-har-bench}"
FILE="$DIR/mgmt-${MB}mb.har"
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "run.sh: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

cargo build --release --quiet --example har_count
cargo build --release --quiet --bin authtap 2>/dev/null || true

mkdir -p "$DIR"
if [ ! -s "$FILE" ]; then
  python3 benches/har/gen_har.py "$FILE" "$MB"
fi
BYTES=$(stat -c %s "$FILE")
cat "$FILE" > /dev/null   # page cache

# Prefer the real command once the lead has wired `analyze`.
READER=(target/release/examples/har_count "$FILE")
LABEL="examples/har_count (detect + read_har)"
if [ -x target/release/authtap ]; then
  if out=$(target/release/authtap analyze --format json "$FILE" 2>/dev/null) || [ $? -eq 1 ]; then
    if printf '%s' "$out" | grep -q '"exchanges"'; then
      READER=(target/release/authtap analyze --format json --output /dev/null "$FILE")
      LABEL="authtap analyze --format json"
    fi
  fi
fi

# measure LABEL CMD... -> prints "best_seconds max_rss_kib"
measure() {
  local best="" rss=0 log
  log=$(mktemp)
  for _ in $(seq "$RUNS"); do
    local t0 t1 secs r
    t0=$(date +%s.%N)
    "$TIME" -v "$@" > /dev/null 2> "$log" || { local rc=$?; [ $rc -eq 1 ] || { cat "$log" >&2; exit 2; }; }
    t1=$(date +%s.%N)
    secs=$(echo "$t1 - $t0" | bc -l)
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    if [ -z "$best" ] || [ "$(echo "$secs < $best" | bc -l)" = 1 ]; then best=$secs; fi
    if [ "$r" -gt "$rss" ]; then rss=$r; fi
  done
  rm -f "$log"
  echo "$best $rss"
}

read -r A_SECS A_RSS < <(measure "${READER[@]}")
read -r P_SECS P_RSS < <(measure python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$FILE")

ENTRIES=$(target/release/examples/har_count "$FILE" | sed -n 's/.*exchanges=\([0-9]*\).*/\1/p')
python3 - "$BYTES" "$ENTRIES" "$A_SECS" "$A_RSS" "$P_SECS" "$P_RSS" "$LABEL" "$RUNS" <<'PY'
import sys
b, n = int(sys.argv[1]), sys.argv[2]
a_s, a_r, p_s, p_r = float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
label, runs = sys.argv[7], sys.argv[8]
a_mbs, p_mbs = b / 1e6 / a_s, b / 1e6 / p_s
print(f"file: {b/1e6:.1f} MB ({b/1048576:.1f} MiB), {n} entries; best of {runs} runs, page cache warm")
print(f"authtap  [{label}]: {a_s:.3f} s  {a_mbs:7.1f} MB/s  peak RSS {a_r/1024:6.1f} MiB")
print(f"python3  [json.load]: {p_s:.3f} s  {p_mbs:7.1f} MB/s  peak RSS {p_r/1024:6.1f} MiB")
print(f"ratio: authtap is {a_mbs/p_mbs:.2f}x python json.load throughput, {p_r/max(a_r,1):.1f}x less memory")
ok = a_mbs >= 300 and a_r / 1024 <= 128
print(f"targets (>= 300 MB/s, <= 128 MiB): {'MET' if ok else 'NOT MET'}")
PY
