#!/bin/bash
# fio over NBD: a 4 GiB Cairn volume (3 replicas, `cairn up`) beside qemu-nbd
# serving a plain 4 GiB file on the same disk (one copy), alternating the two
# so the machine's noise hurts both alike. Workloads and fio options are
# those of ../shared/anchors/block/04_nbd.sh.
#
#   benches/scripts/nbd-fio-vs-qemu-nbd.sh          # RUNS=3 RUNTIME=10
# Prints one line per run and the median ratio Cairn / qemu-nbd per workload.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CAIRN=${CAIRN_BIN:-$ROOT/target/release/cairn}
RUNS=${RUNS:-3}
RUNTIME=${RUNTIME:-10}
WORK=$(mktemp -d /tmp/cairn-nbd-bench.XXXXXX)
CAIRN_PORT=${CAIRN_PORT:-28809}
QEMU_PORT=${QEMU_PORT:-28810}
trap 'kill $QEMU_PID $CAIRN_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

"$CAIRN" up --data "$WORK/data" --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
  --nbd-listen 127.0.0.1:$CAIRN_PORT --iscsi-listen 127.0.0.1:0 > "$WORK/cairn.log" 2>&1 &
CAIRN_PID=$!
for _ in $(seq 100); do [ -S "$WORK/data/control.sock" ] && break; sleep 0.1; done
"$CAIRN" volume --data "$WORK/data" create vol --size 4G > /dev/null
truncate -s 4G "$WORK/file.raw"
qemu-nbd -f raw -x vol -b 127.0.0.1 -p $QEMU_PORT -t -e 16 "$WORK/file.raw" &
QEMU_PID=$!
sleep 1
uri() { [ "$1" = cairn ] && echo nbd://127.0.0.1:$CAIRN_PORT/vol || echo nbd://127.0.0.1:$QEMU_PORT/vol; }
# Reads must find data: fill the first GiB of both.
for t in cairn qemu; do
  fio --name=fill --ioengine=nbd --uri="$(uri $t)" --rw=write --bs=1M --iodepth=8 --size=1G --output=/dev/null
done
measure() {  # target rw bs depth -> "iops MB/s"
  fio --name=b --ioengine=nbd --uri="$(uri "$1")" --rw="$2" --bs="$3" --iodepth="$4" --size=1G \
    --time_based --runtime="$RUNTIME" --ramp_time=2 --numjobs=1 --randrepeat=0 --norandommap \
    --output-format=json 2>/dev/null |
  python3 -c "import json,sys; t=sys.stdin.read(); j=json.loads(t[t.index('{'):])['jobs'][0]; k='read' if 'read' in '$2' else 'write'; print(int(j[k]['iops']), round(j[k]['bw_bytes']/1e6))"
}
for w in "randread 4k 32" "randwrite 4k 32" "read 1M 8" "write 1M 8"; do
  set -- $w
  c=(); q=()
  for i in $(seq "$RUNS"); do
    a=$(measure cairn "$1" "$2" "$3"); b=$(measure qemu "$1" "$2" "$3")
    echo "$1 $2 qd$3 run $i: cairn ${a% *} IOPS ${a#* } MB/s, qemu-nbd ${b% *} IOPS ${b#* } MB/s"
    c+=("${a% *}"); q+=("${b% *}")
  done
  python3 -c "import statistics as s; c=[int(x) for x in '${c[*]}'.split()]; q=[int(x) for x in '${q[*]}'.split()]; print('$1 $2 qd$3 median: cairn %d, qemu-nbd %d IOPS, ratio %.2f' % (s.median(c), s.median(q), s.median(c)/s.median(q)))"
done
