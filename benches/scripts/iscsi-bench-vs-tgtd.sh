#!/bin/bash
# `cairn bench block --iscsi` (reads AND writes, one session): a filled 4 GiB
# Cairn volume (3 replicas, `cairn up`) beside Linux's tgtd serving a 4 GiB
# file of random data on the same disk, alternating Cairn then tgtd, RUNS
# times per workload; prints every run, then medians and Cairn/tgtd ratios.
# Needs tgt; run as root (tgtd's control socket).
#
# Workloads: 4 KiB random read and write at queue depth 32, 1 MiB sequential
# read and write at queue depth 8; RUNTIME s measured after WARMUP s. Every
# workload uses the first SPAN bytes of the device (the bench fills the span
# before each read workload, unmeasured). Data verification is off while
# measuring (--no-verify); one verified randrw run per target comes first.
#
#   CAIRN_BIN=target/release/cairn benches/scripts/iscsi-bench-vs-tgtd.sh   # RUNS=3 RUNTIME=10
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CAIRN=${CAIRN_BIN:-$ROOT/target/release/cairn}
RUNS=${RUNS:-3}
RUNTIME=${RUNTIME:-10}
WARMUP=${WARMUP:-2}
SPAN=${SPAN:-1GiB}
WORK=$(mktemp -d /tmp/cairn-iscsi-bench.XXXXXX)
CAIRN_PORTAL=127.0.0.1:${CAIRN_PORT:-43270}
TGTD_PORTAL=127.0.0.1:${TGTD_PORT:-43271}
export TGT_IPC_SOCKET=$WORK/tgtd.socket
CAIRN_PID=; TGTD_PID=
cleanup() {
  tgtadm --lld iscsi --mode target --op delete --force --tid 1 >/dev/null 2>&1 || true
  tgtadm --op delete --mode system >/dev/null 2>&1 || true
  [ -n "$CAIRN_PID" ] && kill "$CAIRN_PID" 2>/dev/null || true
  sleep 1; [ -n "$TGTD_PID" ] && kill "$TGTD_PID" 2>/dev/null || true
  wait 2>/dev/null; rm -rf "$WORK"
}
trap cleanup EXIT

url() { [ "$1" = cairn ] && echo "iscsi://$CAIRN_PORTAL/iqn.2026-11.io.cairn:vol/0" \
                          || echo "iscsi://$TGTD_PORTAL/iqn.2025-01.bench:vol/1"; }

"$CAIRN" up --data "$WORK/data" --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
  --nbd-listen 127.0.0.1:0 --iscsi-listen $CAIRN_PORTAL > "$WORK/cairn.log" 2>&1 &
CAIRN_PID=$!
for _ in $(seq 100); do [ -S "$WORK/data/control.sock" ] && break; sleep 0.1; done
"$CAIRN" volume --data "$WORK/data" create vol --size 4G > /dev/null
# Fill the whole volume once (1 MiB writes), so writes overwrite as on tgtd's file.
"$CAIRN" bench block --iscsi "$(url cairn)" --workload seqwrite --block-size 1MiB -q 8 -c 1 \
  --span 4GiB --ops 4096 --warmup 0s --no-verify > "$WORK/fill.txt"
dd if=/dev/urandom of="$WORK/file.raw" bs=1M count=4096 status=none
tgtd -f --iscsi portal=$TGTD_PORTAL > "$WORK/tgtd.log" 2>&1 &
TGTD_PID=$!
sleep 1
tgtadm --lld iscsi --mode target --op new --tid 1 --targetname iqn.2025-01.bench:vol
tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$WORK/file.raw"
tgtadm --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL

for t in cairn tgtd; do  # correctness first: every read checked, every write read back
  "$CAIRN" bench block --iscsi "$(url $t)" --workload randrw -q 16 -c 2 --duration 5s \
    --warmup 0s --span 256MiB --json "$WORK/verify-$t.json" > /dev/null
  echo "verified randrw 4k on $t: $(python3 -c "import json; r=json.load(open('$WORK/verify-$t.json')); \
print('%d ops, %d read back, %d errors; negotiated %s' % (r['phases'][0]['ops'], r['unmeasured']['verify']['ops'], \
r['phases'][0]['errors'] + sum(s['errors'] for s in r['unmeasured'].values()), json.dumps(r['settings']['iscsi'])))")"
done

measure() {  # target workload block-size depth -> "ops/s MiB/s p50-ms p99-ms"
  local json="$WORK/run.json"
  timeout $((RUNTIME + WARMUP + 600)) "$CAIRN" bench block --iscsi "$(url "$1")" --workload "$2" \
    --block-size "$3" -q "$4" -c 1 --duration "${RUNTIME}s" --warmup "${WARMUP}s" \
    --span "$SPAN" --no-verify --json "$json" > /dev/null
  python3 -c "import json; p=json.load(open('$json'))['phases'][0]; l=p['latency_ms']; \
assert p['errors'] == 0, p['errors_by_kind']; \
print('%.0f %.1f %.3f %.3f' % (p['ops_per_sec'], p['bytes_per_sec'] / 2**20, l['p50'], l['p99']))"
}

summary=()
for w in "randread 4KiB 32" "randwrite 4KiB 32" "seqread 1MiB 8" "seqwrite 1MiB 8"; do
  set -- $w
  c=(); t=()
  for i in $(seq "$RUNS"); do
    a=$(measure cairn "$1" "$2" "$3"); b=$(measure tgtd "$1" "$2" "$3")
    echo "$1 $2 qd$3 run $i: cairn $a | tgtd $b  (ops/s MiB/s p50-ms p99-ms)"
    c+=("$a"); t+=("$b")
  done
  summary+=("$(python3 -c "
import statistics as s
c=[[float(x) for x in r.split()] for r in '''$(printf '%s\n' "${c[@]}")'''.splitlines()]
t=[[float(x) for x in r.split()] for r in '''$(printf '%s\n' "${t[@]}")'''.splitlines()]
m=lambda rows, i: s.median(r[i] for r in rows)
print('%-9s %-5s qd%-3s | cairn %8.0f ops/s %7.1f MiB/s p50 %7.3f ms | tgtd %8.0f ops/s %7.1f MiB/s p50 %7.3f ms | ratio %.2f' %
      ('$1', '$2', '$3', m(c,0), m(c,1), m(c,2), m(t,0), m(t,1), m(t,2), m(c,0)/m(t,0)))
")")
done
echo "medians of $RUNS runs (${RUNTIME}s each after ${WARMUP}s warm-up, one session, span $SPAN):"
printf '%s\n' "${summary[@]}"
