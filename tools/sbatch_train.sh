#!/usr/bin/env bash
# Train as a Slurm batch job that saves before its time limit and requeues
# itself; each start resumes from the newest complete checkpoint.
# Usage (from the repository root, resources on the sbatch command line):
#   sbatch -p PARTITION --nodes=2 --ntasks-per-node=8 --gres=gpu:8 \
#       --cpus-per-task=5 --time=24:00:00 \
#       tools/sbatch_train.sh CONFIG [WORK_DIR] [tools/train.py options...]
# (an argument after CONFIG that does not start with '-' is the WORK_DIR)
# Env: PYTHON (python), SRUN_ARGS (""), CIM_MM_ROOT (the repository;
#      default: the folder sbatch was called from).
#
# 300 s before the time limit Slurm sends SIGUSR1 to this script
# (--signal=B:USR1@300), which passes it to the training tasks (scancel
# --signal=USR1); StopOnSignalHook saves iter_<n>.pth and the tasks exit
# 138; the script then requeues the job (scontrol requeue), which starts
# again with --resume. A SIGTERM (preemption, scancel) reaches the tasks from
# Slurm directly: they save and exit 143, and the job is requeued only if
# Slurm does it (PreemptMode=REQUEUE with --requeue). Any other exit status
# ends the job with that status.
#SBATCH --job-name=cim
#SBATCH --signal=B:USR1@300
#SBATCH --requeue
#SBATCH --open-mode=append
set -uo pipefail

if [ $# -lt 1 ]; then
    echo "usage: sbatch [sbatch options] $0 CONFIG [WORK_DIR] [tools/train.py options...]" >&2
    exit 2
fi
CONFIG=$1
shift
WORK_DIR_ARGS=()
if [ $# -gt 0 ] && [[ $1 != -* ]]; then
    WORK_DIR_ARGS=("--work-dir=$1")
    shift
fi
# sbatch runs a copy of this script from its spool folder: find the
# repository from where the job was submitted.
ROOT=${CIM_MM_ROOT:-${SLURM_SUBMIT_DIR:-$(cd "$(dirname "$0")/.." && pwd)}}
if [ ! -f "$ROOT/tools/train.py" ]; then
    echo "$0: no tools/train.py in $ROOT; submit from the repository root or set CIM_MM_ROOT" >&2
    exit 2
fi
if [ -z "${SLURM_JOB_ID:-}" ]; then
    echo "$0: SLURM_JOB_ID is not set; submit this script with sbatch" >&2
    exit 2
fi
PYTHON=${PYTHON:-python}
SRUN_ARGS=${SRUN_ARGS:-}
STOP_ON_USR1=138  # 128 + SIGUSR1: tools/train.py stopped on the signal

RECEIVED=
pass_on() {
    RECEIVED=$1
    echo "$(date '+%F %T') job $SLURM_JOB_ID got SIG$1: passing it to the training tasks"
    scancel --signal="$1" "$SLURM_JOB_ID"
}
trap 'pass_on USR1' USR1
trap 'RECEIVED=TERM' TERM  # Slurm signals the tasks itself

echo "$(date '+%F %T') job $SLURM_JOB_ID, start ${SLURM_RESTART_COUNT:-0}: training $CONFIG with --resume"
# SRUN_ARGS is split into words on purpose (e.g. SRUN_ARGS="--qos=high -x node1").
# shellcheck disable=SC2086
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
srun --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" ${WORK_DIR_ARGS[@]+"${WORK_DIR_ARGS[@]}"} \
    --launcher=slurm --resume "$@" &
SRUN_PID=$!
# A trapped signal interrupts `wait`: wait again until srun has ended.
while kill -0 "$SRUN_PID" 2>/dev/null; do
    wait "$SRUN_PID"
done
wait "$SRUN_PID"
STATUS=$?

if [ "$RECEIVED" = USR1 ] && [ "$STATUS" -eq "$STOP_ON_USR1" ]; then
    echo "$(date '+%F %T') training saved and stopped: requeueing job $SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$STATUS"
