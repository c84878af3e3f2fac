#!/usr/bin/env bash
# The k-NN comparison of docs/knn.md on Fashion-MNIST: CIM and mmpretrain's MAE
# pre-train the same 4-layer 128-d ViT/16 at 96 x 96 px on the same 10k
# unlabelled training images for the same wall-clock budget, side by side on
# one core each, then a weighted k-NN (k=20, T=0.07) on frozen features
# classifies the 10k test images, for CIM, MAE and the random-init backbone.
#
#   apt-get install dataset-fashion-mnist   # once; nothing else is fetched
#   bash tools/analysis_tools/knn_fashion_mnist.sh [BUDGET_S=1800] [WORK=work_dirs/knn_fashion_mnist]
#
# Each run is stopped by `timeout` at BUDGET_S seconds; the k-NN uses its
# last checkpoint (every 50 iterations, so at most 50 iterations are lost).
set -euo pipefail
BUDGET=${1:-1800}
WORK=${2:-work_dirs/knn_fashion_mnist}
PY=${PYTHON:-.venv/bin/python}
DATA=${DATA:-data/fashion_mnist}
CFG=configs/knn_fashion_mnist
mkdir -p "$WORK"
[ -d "$DATA/train" ] || $PY tools/analysis_tools/fashion_mnist_folders.py "$DATA" --train-per-class 1000 --test-per-class 1000

run() {  # name core config
    OMP_NUM_THREADS=1 taskset -c "$2" timeout "$BUDGET" $PY tools/train.py "$3" \
        --work-dir "$WORK/$1" --cfg-options train_dataloader.dataset.data_root="$DATA" \
        train_dataloader.num_workers=1 default_hooks.checkpoint.interval=50 \
        > "$WORK/$1.log" 2>&1 || true
}
run cim 0 $CFG/cim_vit-4l-128d_96px_fashion-mnist.py &
run mae 1 $CFG/mae_vit-4l-128d_96px_fashion-mnist.py &
wait

knn() {  # name config [checkpoint]
    $PY tools/analysis_tools/knn_eval.py "$2" ${3:+"$3"} --train-root "$DATA/train" \
        --val-root "$DATA/test" --input-size 96 --out "$WORK/knn_$1.json" \
        > "$WORK/knn_$1.log" 2>&1
    echo "$1: $(grep 'k-NN' "$WORK/knn_$1.log")"
}
last() { ls -t "$WORK/$1"/iter_*.pth | head -1; }
for name in cim mae; do
    echo "$name: $(grep -c 'Iter(train)' "$WORK/$name.log") log lines, last checkpoint $(last $name)"
done
knn cim $CFG/cim_vit-4l-128d_96px_fashion-mnist.py "$(last cim)"
knn mae $CFG/mae_vit-4l-128d_96px_fashion-mnist.py "$(last mae)"
knn random $CFG/cim_vit-4l-128d_96px_fashion-mnist.py
