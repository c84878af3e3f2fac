#!/usr/bin/env bash
# Every GPU figure of issue 8 in one run: CIM ViT-B next to mmpretrain's MAE
# ViT-B (same process, same GPU) as the configs ship, in bf16 + fused AdamW,
# and compiled (img/s, FLOPs, MFU, peak memory); a torch.profiler table of
# CIM's step; one-core pipeline rates on real JPEGs; the shipped data loader
# (WORKERS workers) feeding the training step, with its data-wait share.
# Each step has its own time limit (470 s in all, under 8 minutes with the
# model builds). Logs and a summary go to $OUT.
#
#   OUT=/tmp/gpu bash tools/analysis_tools/gpu_benchmarks.sh
#   # dry run on CPU (tiny sizes, minutes):
#   BATCH=2 ITERS=1 WARMUP=1 MATMUL=256 TIME_SCALE=10 IMAGES=20 \
#       SAMPLES=10 WORKERS=1 OUT=/tmp/dry bash tools/analysis_tools/gpu_benchmarks.sh
# ONLY="step names" runs those steps only.
# On the offline GPU machine, `source .whl/setup.sh` first
# (../shared/gpu/README.md).
set -uo pipefail

OUT=${OUT:-work_dirs/gpu_benchmarks}
BATCH=${BATCH:-512}
ITERS=${ITERS:-30}
WARMUP=${WARMUP:-5}
MATMUL=${MATMUL:-8192}
TIME_SCALE=${TIME_SCALE:-1}  # multiplies every step's time limit
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CIM=$ROOT/configs/cim_vitb_300e.py
MAE=mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py
BENCH=$ROOT/tools/analysis_tools/benchmark_train.py
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
    grep -E 'images/s|samples/s' "$OUT/$name.log" | tee -a "$SUMMARY"
    echo "   exit $rc after $((SECONDS - start)) s" | tee -a "$SUMMARY"
}

step shipped 80 "$CIM" --compare "$MAE" "${COMMON[@]}"
step bf16_fused 80 "$CIM" --compare "$MAE" --bf16 --fused-adamw \
    "${COMMON[@]}"
step bf16_fused_compiled 130 "$CIM" --compare "$MAE" --bf16 --fused-adamw \
    --compile "${COMMON[@]}"
step profile 40 "$CIM" --bf16 --fused-adamw --batch-size "$BATCH" \
    --iters 3 --warmup 2 --matmul-size "$MATMUL" \
    --profile "$OUT/profile_cim_bf16.txt"
# Real JPEGs: one core per pipeline (CIM's worker draws, the GPU builds the
# pixels), then the shipped data loader feeding the training step.
DATA=(--data-root "$OUT/jpegs" --num-images "${IMAGES:-1000}")
BENCH=$ROOT/tools/analysis_tools/benchmark_data.py
step data_one_core 40 "$CIM" --compare "$MAE" "${DATA[@]}" \
    --num-samples "${SAMPLES:-500}"
step data_end_to_end 100 "$CIM" "${DATA[@]}" --workers "${WORKERS:-15}" \
    --iters "$ITERS" --batch-size "$BATCH" --train
echo "summary: $SUMMARY"
