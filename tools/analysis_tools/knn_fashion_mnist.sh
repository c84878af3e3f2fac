#!/usr/bin/env bash
# The k-NN study of docs/knn.md on Fashion-MNIST, over seeds: CIM and
# mmpretrain's MAE pre-train the same 4-layer 128-d ViT/16 at 96 x 96 px on
# the same 10k unlabelled training images for the same number of iterations
# (batch 16), with the k-NN monitor on (configs/knn_fashion_mnist/
# *_knn-monitor.py: 1,000 test images against 1,000 training images, at
# iteration 0 and every INTERVAL iterations). Iteration 0 of a CIM run is the
# random-init backbone of its seed. Two lanes, one per core and one thread
# each, take the runs in the order cim-seed0, mae-seed0, cim-seed1, ... (each
# lane the next run not yet taken); then knn_study.py writes the table and
# the PNG of the curves.
#
#   apt-get install dataset-fashion-mnist   # once; nothing else is fetched
#   SEEDS="0 1 2" ITERS=1000 INTERVAL=500 FINAL=1 bash tools/analysis_tools/knn_fashion_mnist.sh [WORK]
#
# METHODS (default "cim mae"): also cim-exaug, CIM with the release's
# exemplar augmentation (..._exemplar-aug_knn-monitor.py). FINAL=1: also k-NN
# on the full 10k test images against the 10k training images (knn_eval.py)
# for each run's last checkpoint and each seed's random init (the CIM
# backbone, knn_eval.py --seed S). A run whose last checkpoint exists is
# skipped; a stopped run resumes from its last checkpoint. The learning rate
# is constant after 60 warmup iterations, so a run's first N iterations are
# those of a run with ITERS=N.
set -euo pipefail
WORK=${1:-work_dirs/knn_fashion_mnist}
SEEDS=${SEEDS:-"0 1 2"}
ITERS=${ITERS:-1000}
INTERVAL=${INTERVAL:-500}
METHODS=${METHODS:-"cim mae"}
PY=${PYTHON:-.venv/bin/python}
DATA=${DATA:-data/fashion_mnist}
KNN_DATA=data/fashion_mnist_knn   # the monitor configs' folders
CFG=configs/knn_fashion_mnist
mkdir -p "$WORK"
folders() {  # out per-class
    [ -d "$1/train" ] || $PY tools/analysis_tools/fashion_mnist_folders.py \
        "$1" --train-per-class "$2" --test-per-class "$2"
}
folders "$DATA" 1000
folders "$KNN_DATA" 100

declare -A CONFIG=(
    [cim]=$CFG/cim_vit-4l-128d_96px_fashion-mnist_knn-monitor.py
    [cim-exaug]=$CFG/cim_vit-4l-128d_96px_fashion-mnist_exemplar-aug_knn-monitor.py
    [mae]=$CFG/mae_vit-4l-128d_96px_fashion-mnist_knn-monitor.py)
# the index of KNNMonitorHook in each config's custom_hooks
declare -A MONITOR=([cim]=4 [cim-exaug]=4 [mae]=0)

train() {  # core method seed
    local name="$2-seed$3" resume=()
    [ -f "$WORK/$name/iter_$ITERS.pth" ] && return 0
    ls "$WORK/$name"/iter_*.pth > /dev/null 2>&1 && resume=(--resume)
    OMP_NUM_THREADS=1 taskset -c "$1" $PY tools/train.py "${CONFIG[$2]}" \
        --work-dir "$WORK/$name" "${resume[@]}" --cfg-options \
        randomness.seed="$3" train_cfg.max_iters="$ITERS" \
        "custom_hooks.${MONITOR[$2]}.interval=$INTERVAL" \
        default_hooks.checkpoint.interval="$INTERVAL" \
        train_dataloader.dataset.data_root="$DATA" \
        train_dataloader.num_workers=1 \
        >> "$WORK/$name.log" 2>&1
}
rm -rf "$WORK/.taken" && mkdir "$WORK/.taken"
lane() {  # core: the runs not yet taken, one after the other
    for seed in $SEEDS; do
        for method in $METHODS; do
            mkdir "$WORK/.taken/$method-$seed" 2> /dev/null || continue
            train "$1" "$method" "$seed" ||
                echo "$method seed $seed failed: $WORK/$method-seed$seed.log"
        done
    done
}
lane 0 & lane 1 &
wait

if [ "${FINAL:-0}" = 1 ]; then
    knn() {  # out config [checkpoint] [--seed S]
        local out=$1; shift
        [ -f "$out" ] || OMP_NUM_THREADS=1 $PY tools/analysis_tools/knn_eval.py \
            "$@" --train-root "$DATA/train" --val-root "$DATA/test" \
            --input-size 96 --num-workers 1 --out "$out" > "${out%.json}.log" 2>&1
    }
    for seed in $SEEDS; do
        for method in $METHODS; do
            knn "$WORK/$method-seed$seed/knn_full.json" "${CONFIG[$method]}" \
                "$WORK/$method-seed$seed/iter_$ITERS.pth"
        done
        mkdir -p "$WORK/random-seed$seed"
        knn "$WORK/random-seed$seed/knn_full.json" \
            "${CONFIG[cim]}" --seed "$seed"
    done
fi
$PY tools/analysis_tools/knn_study.py "$WORK" --out "$WORK/knn_study.png"
