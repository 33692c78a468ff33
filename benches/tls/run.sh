#!/usr/bin/env bash
# TLS 1.3 + HTTP/2 decryption benchmark (not a test).
#
# 1. generates SIZE_MB (default 300) of TLS 1.3 AES-128-GCM HTTP/2 Management API traffic with
#    its key log (benches/tls/gen_capture.rs, real records encrypted with ring);
# 2. runs authtap's capture stack on it (benches/tls/decrypt.rs: pcap → TCP → TLS → HTTP/2),
#    measuring wall time, throughput and peak RSS (/usr/bin/time -v);
# 3. runs tshark on the same file with the same key log in the same run, counting HTTP/2
#    requests, and measures it the same way;
# 4. prints a table to paste into benches/tls/RESULTS.md.
# Usage: benches/tls/run.sh [SIZE_MB] [WORKDIR]
set -euo pipefail
SIZE_MB=${1:-300}
WORK=${2:-$(mktemp -d /tmp/authtap-tls-bench.XXXXXX)}
cd "$(dirname "$0")/../.."
mkdir -p "$WORK"
CAP="$WORK/mgmt-h2-tls13.pcap"
KEYS="$WORK/mgmt-h2-tls13.keys"

# Build once (bench profile = release) and run the binaries directly, so neither cargo nor
# rustc is inside the measured process tree.
exe() {
  cargo bench --bench "$1" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import sys, json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])' | tail -1
}
GEN=$(exe tls_gen)
DEC=$(exe tls_decrypt)
if [ ! -s "$CAP" ]; then
  "$GEN" "$CAP" "$KEYS" "$SIZE_MB" >"$WORK/gen.out"
fi
GENERATED=$(tail -1 "$WORK/gen.out" 2>/dev/null || echo "?")
BYTES=$(stat -c %s "$CAP")

measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -v "$@" >"$WORK/$name.out" 2>"$WORK/$name.time"
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$WORK/$name.time" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$WORK/$name.time" | awk '{print $NF}')
  echo "$name wall=$wall peak_rss_kib=$rss"
}

to_secs() { awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$1"; }

A=$(measure authtap "$DEC" "$CAP" "$KEYS")
AUTHTAP_LINE=$(cat "$WORK/authtap.out")
T=$(measure tshark sh -c "tshark -n -r '$CAP' -o tls.keylog_file:'$KEYS' -Y http2.headers.method -T fields -e http2.streamid | wc -l")
TSHARK_REQ=$(tr -d ' ' <"$WORK/tshark.out")

A_WALL=$(to_secs "$(sed 's/.*wall=\([^ ]*\).*/\1/' <<<"$A")")
T_WALL=$(to_secs "$(sed 's/.*wall=\([^ ]*\).*/\1/' <<<"$T")")
A_RSS=$(sed 's/.*peak_rss_kib=//' <<<"$A")
T_RSS=$(sed 's/.*peak_rss_kib=//' <<<"$T")
# authtap's own timer (reading the key log through the last exchange) gives throughput.
A_SECS=$(sed 's/.*seconds=\([^ ]*\).*/\1/' <<<"$AUTHTAP_LINE")
A_EX=$(sed 's/.*exchanges=\([^ ]*\).*/\1/' <<<"$AUTHTAP_LINE")

echo "capture: $CAP ($BYTES bytes; generator exchanges: $GENERATED)"
echo "authtap: $AUTHTAP_LINE"
echo "authtap: wall ${A_WALL}s, peak RSS $((A_RSS / 1024)) MiB"
echo "tshark:  ${TSHARK_REQ} HTTP/2 requests, wall ${T_WALL}s, peak RSS $((T_RSS / 1024)) MiB"
awk -v b="$BYTES" -v a="$A_SECS" -v t="$T_WALL" 'BEGIN { printf "throughput: authtap %.0f MB/s, tshark %.1f MB/s, speed-up %.0fx\n", b/1e6/a, b/1e6/t, t/a }'
[ "$A_EX" = "$TSHARK_REQ" ] && echo "request counts agree ($A_EX)" || echo "REQUEST COUNTS DIFFER: authtap $A_EX, tshark $TSHARK_REQ"
