#!/usr/bin/env bash
# Framing-thread CPU benchmark: how much CPU the capture reader (pcap → TCP → HTTP/1 → Exchange)
# costs, alone and as the worker thread of `authtap analyze`.
# Usage: benches/capture/threads.sh [FILE]   (default: $BENCH_DIR/mgmt-300MB.pcap, made by run.sh)
# Prints, best of $RUNS (default 5) runs each:
#   - capture_count (reader alone, one thread): wall and user+sys CPU;
#   - analyze --format json: wall, user+sys CPU, peak RSS;
#   - with `perf` installed: CPU seconds per thread of one analyze run (10 kHz software clock),
#     the thread that is not the main thread being the framing worker.
# Runs unattended; needs cargo and /usr/bin/time (perf optional). Load average is printed: on a
# busy machine compare CPU columns rather than wall.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${BENCH_DIR:-/tmp/authtap-bench}
FILE=${1:-$DIR/mgmt-300MB.pcap}
RUNS=${RUNS:-5}
if [ ! -f "$FILE" ]; then
  echo "no capture at $FILE (run benches/capture/run.sh first, or pass a file)" >&2
  exit 2
fi
cargo build --release --bin authtap --example capture_count >&2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# best CMD...: lowest user+sys of $RUNS runs, as "wall cpu maxrss_kb".
best() {
  local best_line=""
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/t" "$@" > /dev/null 2>&1 || true
    read -r wall user sys rss < "$TMP/t"
    cpu=$(python3 -c "print(round($user + $sys, 3))")
    if [ -z "$best_line" ] || python3 -c "import sys; sys.exit(0 if $cpu < ${best_line#* } else 1)" 2>/dev/null; then
      best_line="$wall $cpu $rss"
    fi
  done
  echo "$best_line"
}

echo "file: $FILE ($(stat -c %s "$FILE") bytes); load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
read -r w c r <<< "$(best target/release/examples/capture_count "$FILE")"
echo "capture_count (reader alone): wall ${w}s, CPU ${c}s, peak RSS $((r / 1024)) MiB"
read -r w c r <<< "$(best target/release/authtap analyze "$FILE" --format json --fail-on never)"
echo "analyze --format json:        wall ${w}s, CPU ${c}s, peak RSS $((r / 1024)) MiB"
if command -v perf > /dev/null 2>&1; then
  if perf record -q -F 10000 -o "$TMP/perf.data" target/release/authtap analyze "$FILE" \
      --format json --fail-on never > /dev/null 2>&1; then
    main=$(perf report -i "$TMP/perf.data" -s pid --stdio -n 2>/dev/null \
      | awk '/^ +[0-9.]+%/ {print $3}' | sort -t: -k1,1n | head -1 | cut -d: -f1)
    perf report -i "$TMP/perf.data" -s pid --stdio -n 2>/dev/null | awk -v main="$main" '
      /^ +[0-9.]+%/ { split($3, p, ":"); who = (p[1] == main) ? "main thread (engine)" : "worker (framing)";
                      printf "analyze per thread: %-22s %.3f s CPU\n", who, $2 / 10000 }'
  else
    echo "perf record failed; per-thread numbers skipped"
  fi
else
  echo "perf not installed; per-thread numbers skipped"
fi
