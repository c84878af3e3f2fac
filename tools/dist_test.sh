#!/usr/bin/env bash
# Test a checkpoint with GPUS processes per node through torch.distributed.run.
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py options...]
# Env: NNODES (1), NODE_RANK (0), PORT, MASTER_ADDR (127.0.0.1),
#      PYTHON (python). On one node without PORT, torchrun --standalone picks
#      a free port itself (no collision between jobs); several nodes need
#      PORT (default 29500) and MASTER_ADDR. Without GPUs the processes
#      use gloo on CPU (runner_type CIMRunner; docs/stack.md).
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [tools/test.py options...]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
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

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    "${RENDEZVOUS[@]}" \
    --nproc_per_node="$GPUS" \
    "$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
