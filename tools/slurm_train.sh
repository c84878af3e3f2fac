#!/usr/bin/env bash
# Train on a Slurm cluster, one task per GPU.
# Usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [tools/train.py options...]
# (an argument after CONFIG that does not start with '-' is the WORK_DIR)
# Env: GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (""),
#      PYTHON (python).
# On a partition that preempts or with a time limit shorter than the run,
# submit tools/sbatch_train.sh instead: it saves before the limit and
# requeues the job, which resumes by itself.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG [WORK_DIR] [tools/train.py options...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
WORK_DIR_ARGS=()
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
    WORK_DIR_ARGS=("--work-dir=$1")
    shift
fi
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

set -x
# SRUN_ARGS is split into words on purpose (e.g. SRUN_ARGS="--qos=high -x node1").
# shellcheck disable=SC2086
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" ${WORK_DIR_ARGS[@]+"${WORK_DIR_ARGS[@]}"} \
    --launcher=slurm "$@"
