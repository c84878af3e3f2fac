#!/usr/bin/env bash
# Every GPU figure in one run, the must-haves first: CIM ViT-B next to
# mmpretrain's MAE ViT-B (same process, same GPU) as the configs ship, then
# in bf16 + fused AdamW (img/s, FLOPs, MFU, peak memory, host-device syncs
# and copies per step, sync warnings); the shipped data loader (WORKERS
# workers) feeding the training step, with its data-wait share; one-core
# pipeline rates on real JPEGs; a torch.profiler table of CIM's step; last,
# the compiled step (skipped without a GPU); one batch of pairs synthesised
# on the device. Each step has its own
# time limit (400 s in all). Logs and a summary go to $OUT.
#
#   OUT=/tmp/gpu bash tools/analysis_tools/gpu_benchmarks.sh
#   # rehearsal on CPU, with the GPU host's gaps simulated (minutes):
#   bash tools/analysis_tools/rehearse_gpu_benchmarks.sh
# ONLY="step names" runs those steps only.
# On the offline GPU machine, `source .whl/setup.sh` first
# (../shared/gpu/README.md). Needs only `python3` (PYTHON= to choose).
set -uo pipefail

OUT=${OUT:-work_dirs/gpu_benchmarks}
BATCH=${BATCH:-512}
ITERS=${ITERS:-30}
WARMUP=${WARMUP:-5}
MATMUL=${MATMUL:-8192}
TIME_SCALE=${TIME_SCALE:-1}  # multiplies every step's time limit
PYTHON=${PYTHON:-python3}
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CIM=$ROOT/configs/cim_vitb_300e.py
MAE=mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py
BENCH=$ROOT/tools/analysis_tools/benchmark_train.py
# CIM_OPTIONS: --cfg-options for CIM's training steps (the rehearsal puts
# the pixels on the device path, which a CPU would not choose).
CIM_OPTS=()
[ -n "${CIM_OPTIONS:-}" ] && read -ra CIM_OPTS <<< "--cfg-options $CIM_OPTIONS"
COMMON=(--batch-size "$BATCH" --iters "$ITERS" --warmup "$WARMUP"
        --matmul-size "$MATMUL")
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: > "$SUMMARY"

# step NAME SECONDS ARGS...: one benchmark under a time limit, its figure
# lines appended to the summary.
step() {
    local name=$1 limit=$(($2 * TIME_SCALE))
    shift 2
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then
        return
    fi
    echo "== $name: $*" | tee -a "$SUMMARY"
    local start=$SECONDS
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
        timeout "$limit" "$PYTHON" "$BENCH" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    grep -E 'images/s|samples/s|ms per batch|host-device syncs|Error|error:' \
        "$OUT/$name.log" | tee -a "$SUMMARY"
    echo "   exit $rc after $((SECONDS - start)) s" | tee -a "$SUMMARY"
}

HAS_CUDA=$("$PYTHON" -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)
DATA=(--data-root "$OUT/jpegs" --num-images "${IMAGES:-1000}")
DATA_BENCH=$ROOT/tools/analysis_tools/benchmark_data.py

step shipped 70 "$CIM" --compare "$MAE" "${COMMON[@]}" "${CIM_OPTS[@]}"
step bf16_fused 70 "$CIM" --compare "$MAE" --bf16 --fused-adamw \
    "${COMMON[@]}" "${CIM_OPTS[@]}"
# Real JPEGs (written from the offline photos present): the shipped data
# loader feeding the training step, then one core per pipeline (CIM's
# worker draws, the GPU builds the pixels).
BENCH=$DATA_BENCH step data_end_to_end 90 "$CIM" "${DATA[@]}" \
    --workers "${WORKERS:-15}" --iters "$ITERS" --batch-size "$BATCH" --train
BENCH=$DATA_BENCH step data_one_core 40 "$CIM" --compare "$MAE" \
    "${DATA[@]}" --num-samples "${SAMPLES:-500}"
step profile 30 "$CIM" --bf16 --fused-adamw --batch-size "$BATCH" \
    --iters "${PROFILE_ITERS:-3}" --warmup "${PROFILE_WARMUP:-2}" \
    --matmul-size "$MATMUL" --profile "$OUT/profile_cim_bf16.txt" \
    "${CIM_OPTS[@]}"
if [ "$HAS_CUDA" = 1 ]; then
    step bf16_fused_compiled 60 "$CIM" --compare "$MAE" --bf16 \
        --fused-adamw --compile "${COMMON[@]}"
else
    echo "== bf16_fused_compiled: skipped (no GPU)" | tee -a "$SUMMARY"
fi
# One batch of pairs built on the device (the pair synthesis alone).
DEVICE=cpu
[ "$HAS_CUDA" = 1 ] && DEVICE=cuda
BENCH=$ROOT/tools/analysis_tools/benchmark_pair_synthesis.py \
    step pair_synthesis 40 --batch-size "$BATCH" --device "$DEVICE" \
    --threads "${SYNTHESIS_THREADS:-1}"
echo "summary: $SUMMARY"
