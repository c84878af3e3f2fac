#!/usr/bin/env bash
# Every GPU figure of the training-step work in one run: CIM ViT-B next to
# mmpretrain's MAE ViT-B (same process, same GPU) as the configs ship, in
# fp16, in bf16 + fused AdamW, and compiled; then a torch.profiler table of
# CIM's step. Each step has its own time limit; the whole script stays under
# 8 minutes on an H100/H200. Logs and a summary go to $OUT.
#
#   OUT=/tmp/gpu bash tools/analysis_tools/gpu_benchmarks.sh
#   # dry run on CPU (tiny sizes, minutes):
#   BATCH=2 ITERS=1 WARMUP=1 MATMUL=256 TIME_SCALE=10 OUT=/tmp/dry \
#       bash tools/analysis_tools/gpu_benchmarks.sh
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
    echo "== $name: $*" | tee -a "$SUMMARY"
    local start=$SECONDS
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
        timeout "$limit" "$PYTHON" "$BENCH" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    grep -E 'images/s' "$OUT/$name.log" | tee -a "$SUMMARY"
    echo "   exit $rc after $((SECONDS - start)) s" | tee -a "$SUMMARY"
}

step shipped 90 "$CIM" --compare "$MAE" "${COMMON[@]}"
step fp16 90 "$CIM" --compare "$MAE" --precision fp16 "${COMMON[@]}"
step bf16_fused 90 "$CIM" --compare "$MAE" --bf16 --fused-adamw \
    "${COMMON[@]}"
step bf16_fused_compiled 150 "$CIM" --compare "$MAE" --bf16 --fused-adamw \
    --compile "${COMMON[@]}"
step profile 50 "$CIM" --bf16 --fused-adamw --batch-size "$BATCH" \
    --iters 3 --warmup 2 --matmul-size "$MATMUL" \
    --profile "$OUT/profile_cim_bf16.txt"
echo "summary: $SUMMARY"
