#!/usr/bin/env bash
# Train with GPUS processes per node through torch.distributed.run.
# Usage: tools/dist_train.sh CONFIG GPUS [tools/train.py options...]
# Env: NNODES (1), NODE_RANK (0), PORT, MASTER_ADDR (127.0.0.1),
#      PYTHON (python). On one node without PORT, torchrun --standalone picks
#      a free port itself (no collision between jobs); several nodes need
#      PORT (default 29500) and MASTER_ADDR. Without GPUs the processes
#      use gloo on CPU (runner_type CIMRunner; docs/stack.md).
# torchrun replaces this script (exec), so a signal sent to it reaches
# torchrun, which passes SIGTERM, SIGINT, SIGHUP, SIGQUIT and (set here)
# SIGUSR1 on to the training processes; StopOnSignalHook saves and stops
# them. torchrun kills them 30 s later (TORCH_ELASTIC_SHUTDOWN_TIMEOUT) and
# exits 1 after a signal.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [tools/train.py options...]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
if [ "$NNODES" = 1 ] && [ -z "${PORT:-}" ]; then
    RENDEZVOUS=(--standalone)
else
    RENDEZVOUS=(--nnodes="$NNODES" --node_rank="$NODE_RANK"
                --master_addr="$MASTER_ADDR" --master_port="${PORT:-29500}")
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# The signals torchrun forwards: --signals-to-handle's variable (torch >=
# 2.8), and the one older torch reads.
SIGNALS=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1
export PET_SIGNALS_TO_HANDLE=${PET_SIGNALS_TO_HANDLE:-$SIGNALS}
export TORCHELASTIC_SIGNALS_TO_HANDLE=${TORCHELASTIC_SIGNALS_TO_HANDLE:-$SIGNALS}
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    "${RENDEZVOUS[@]}" \
    --nproc_per_node="$GPUS" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
