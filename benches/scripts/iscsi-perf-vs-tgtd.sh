#!/bin/bash
# iscsi-perf (libiscsi; READ16 only): a 4 GiB Cairn volume (3 replicas,
# `cairn up`) beside Linux's tgtd serving a plain 4 GiB file on the same disk,
# alternating. Both are filled first so reads find data. Needs tgt and
# libiscsi-bin; run as root (tgtd's control socket).
#
#   benches/scripts/iscsi-perf-vs-tgtd.sh        # RUNS=3 RUNTIME=8
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CAIRN=${CAIRN_BIN:-$ROOT/target/release/cairn}
RUNS=${RUNS:-3}
RUNTIME=${RUNTIME:-8}
WORK=$(mktemp -d /tmp/cairn-iscsi-bench.XXXXXX)
CAIRN_PORTAL=127.0.0.1:${CAIRN_PORT:-43260}
TGTD_PORTAL=127.0.0.1:${TGTD_PORT:-43261}
NBD_PORT=${NBD_PORT:-48809}
export TGT_IPC_SOCKET=$WORK/tgtd.socket
cleanup() {
  tgtadm --lld iscsi --mode target --op delete --force --tid 1 >/dev/null 2>&1 || true
  tgtadm --op delete --mode system >/dev/null 2>&1 || true
  kill "$CAIRN_PID" 2>/dev/null || true
  sleep 1; kill "$TGTD_PID" 2>/dev/null || true
  wait 2>/dev/null; rm -rf "$WORK"
}
trap cleanup EXIT

"$CAIRN" up --data "$WORK/data" --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
  --nbd-listen 127.0.0.1:$NBD_PORT --iscsi-listen $CAIRN_PORTAL > "$WORK/cairn.log" 2>&1 &
CAIRN_PID=$!
for _ in $(seq 100); do [ -S "$WORK/data/control.sock" ] && break; sleep 0.1; done
"$CAIRN" volume --data "$WORK/data" create vol --size 4G > /dev/null
fio --name=fill --ioengine=nbd --uri=nbd://127.0.0.1:$NBD_PORT/vol --rw=write --bs=1M \
  --iodepth=8 --size=4G --output=/dev/null > /dev/null 2>&1
dd if=/dev/urandom of="$WORK/file.raw" bs=1M count=4096 status=none
tgtd -f --iscsi portal=$TGTD_PORTAL > "$WORK/tgtd.log" 2>&1 &
TGTD_PID=$!
sleep 1
tgtadm --lld iscsi --mode target --op new --tid 1 --targetname iqn.2025-01.bench:vol
tgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$WORK/file.raw"
tgtadm --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL

url() { [ "$1" = cairn ] && echo "iscsi://$CAIRN_PORTAL/iqn.2026-11.io.cairn:vol/0" \
                          || echo "iscsi://$TGTD_PORTAL/iqn.2025-01.bench:vol/1"; }
measure() {  # target depth blocks [flags] -> IOPS
  timeout $((RUNTIME + 20)) iscsi-perf -t "$RUNTIME" -m "$2" -b "$3" ${4:-} "$(url "$1")" 2>&1 |
    tr '\r' '\n' | grep -o 'iops average [0-9]*' | tail -1 | grep -o '[0-9]*$'
}
for w in "randread-4k 32 8 -r" "seqread-1M 8 2048"; do
  set -- $w
  c=(); t=()
  for i in $(seq "$RUNS"); do
    a=$(measure cairn "$2" "$3" "${4:-}"); b=$(measure tgtd "$2" "$3" "${4:-}")
    echo "$1 qd$2 run $i: cairn $a IOPS, tgtd $b IOPS"
    c+=("$a"); t+=("$b")
  done
  python3 -c "import statistics as s; c=[int(x) for x in '${c[*]}'.split()]; t=[int(x) for x in '${t[*]}'.split()]; print('$1 qd$2 median: cairn %d, tgtd %d IOPS, ratio %.2f' % (s.median(c), s.median(t), s.median(c)/s.median(t)))"
done
