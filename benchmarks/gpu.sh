#!/usr/bin/env bash
# The GPU run in one command (issue 14): parity of every catalogue entry on the device, then the
# loss, distance, instance and post-processing benchmarks with --device, each under its own time
# budget so the whole run stays under eight minutes.  Writes benchmarks/results/*_<device>.md.
#
#   benchmarks/gpu.sh                 # on a CUDA machine: results/*_cuda.md
#   benchmarks/gpu.sh --dry           # anywhere: the same steps on the CPU at small sizes / one round,
#                                     # tables to $TMPDIR (checks every script takes its arguments)
#
# A step that fails or runs out of its budget is reported and the run goes on; the exit status is
# the number of steps that did not finish.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DRY=0
[ "${1:-}" = "--dry" ] && DRY=1

if [ "$DRY" = 1 ]; then
    DEVICE=cpu
    OUT=$(mktemp -d)
    ROUNDS=1
    LOSS_ARGS=(--shape 2,5,32,32 --no-memory)
    DIST_ARGS=(--size 32)                # the traced (uncropped) row is slow on a CPU at 128^3
    POST_ARGS=(--scale 0.25)
    INST_ARGS=(--no-memory)              # forked children for the memory column: slow on a loaded CPU
    BUDGET=(120 120 120 240 120)        # a loaded 2-core CPU: instances has no small size
else
    DEVICE=cuda
    OUT=benchmarks/results
    ROUNDS=5
    LOSS_ARGS=()
    DIST_ARGS=()
    POST_ARGS=()
    INST_ARGS=()
    BUDGET=(60 220 100 50 50)          # seconds: 480 in all (losses: 35 fresh processes for the memory column;
                                       # distances: the torch.compile row traces once)
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
        || { echo "no CUDA device here (use --dry for the CPU check of this script)"; exit 1; }
fi

failed=0
step() {   # step <budget> <name> <command...>
    local budget=$1 name=$2; shift 2
    local t0=$SECONDS
    echo "== $name (budget ${budget}s)"
    timeout "$budget" "$@"
    local rc=$?
    if [ $rc -ne 0 ]; then
        failed=$((failed + 1))
        [ $rc -eq 124 ] && echo "!! $name: out of its ${budget}s budget" || echo "!! $name: exit status $rc"
    fi
    echo "   $name took $((SECONDS - t0))s"
}

echo "device $DEVICE, tables to $OUT, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
check_table=benchmarks/results/device_check_$DEVICE.md
had_check=0; [ -e "$check_table" ] && had_check=1
step "${BUDGET[0]}" device_check "$PY" benchmarks/device_check.py --device "$DEVICE"
if [ "$DRY" = 1 ] && [ -e "$check_table" ]; then   # device_check writes into results/ only: move it
    cp "$check_table" "$OUT/"; [ "$had_check" = 0 ] && rm -f "$check_table"
fi
step "${BUDGET[1]}" losses "$PY" benchmarks/losses.py --device "$DEVICE" --rounds "$ROUNDS" "${LOSS_ARGS[@]}" \
    --out "$OUT/losses_$DEVICE.md"
step "${BUDGET[2]}" distances "$PY" benchmarks/distances.py --device "$DEVICE" --rounds "$ROUNDS" "${DIST_ARGS[@]}" \
    --out "$OUT/distances_$DEVICE.md"
step "${BUDGET[3]}" instances "$PY" benchmarks/instances.py --device "$DEVICE" --rounds "$ROUNDS" "${INST_ARGS[@]}" \
    --out "$OUT/instances_$DEVICE.md"
step "${BUDGET[4]}" postprocess "$PY" benchmarks/postprocess.py --device "$DEVICE" --rounds "$ROUNDS" "${POST_ARGS[@]}" \
    --out "$OUT/postprocess_$DEVICE.md"

echo "done in ${SECONDS}s, $failed step(s) did not finish; tables:"
ls -1 "$OUT"/*_"$DEVICE".md 2>/dev/null
exit $failed
