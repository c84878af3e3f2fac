#!/usr/bin/env bash
# Rehearse gpu_benchmarks.sh on CPU as the offline GPU host will run it:
# only `python3` on the PATH (no `python`), foolbox and pkg_resources not
# importable (the host has scikit-image, not foolbox; setuptools >= 82 has
# no pkg_resources), tiny sizes, CIM's pairs on the device path (as a GPU
# machine runs them). Every step must exit 0; the compiled step is skipped
# without a GPU. The limits are 10x the GPU's (TIME_SCALE=). Exits non-zero, naming the steps, otherwise.
#
#   bash tools/analysis_tools/rehearse_gpu_benchmarks.sh        # all steps
#   ONLY="shipped data_one_core" bash tools/analysis_tools/rehearse_gpu_benchmarks.sh
# PYTHON3= names the interpreter to use as python3 (default: the project's
# .venv, else python3); OUT= where logs go (default: a temporary folder).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PYTHON3=${PYTHON3:-$ROOT/.venv/bin/python}
[ -x "$PYTHON3" ] || PYTHON3=$(command -v python3)
SANDBOX=$(mktemp -d)
trap 'rm -rf "$SANDBOX"' EXIT
OUT=${OUT:-$SANDBOX/out}

# A PATH with python3 and the system tools but no `python`.
mkdir -p "$SANDBOX/bin" "$SANDBOX/site"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$PYTHON3" > "$SANDBOX/bin/python3"
chmod +x "$SANDBOX/bin/python3"  # a wrapper: a venv is not found via a link
# Imports of the modules the GPU host lacks fail as if not installed.
cat > "$SANDBOX/site/sitecustomize.py" <<'PY'
import sys

_MISSING = ('foolbox', 'pkg_resources')


class _NotInstalled:
    """Makes the modules the GPU host lacks unimportable."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split('.')[0] in _MISSING:
            raise ModuleNotFoundError(f'No module named {name!r} '
                                      '(rehearsal of the GPU host)', name=name)
        return None


sys.meta_path.insert(0, _NotInstalled)
PY

env -u PYTHON PATH="$SANDBOX/bin:/usr/bin:/bin" \
    PYTHONPATH="$SANDBOX/site${PYTHONPATH:+:$PYTHONPATH}" \
    OUT="$OUT" BATCH=2 ITERS=1 WARMUP=1 MATMUL=256 IMAGES=${IMAGES:-20} \
    SAMPLES=${SAMPLES:-10} \
    WORKERS=1 PROFILE_ITERS=1 PROFILE_WARMUP=1 TIME_SCALE=${TIME_SCALE:-10} \
    ONLY="${ONLY:-}" CIM_OPTIONS="train_dataloader.dataset.pipeline.1.pixels=device" \
    bash "$ROOT/tools/analysis_tools/gpu_benchmarks.sh"
if env PATH="$SANDBOX/bin:/usr/bin:/bin" sh -c 'command -v python' \
        >/dev/null 2>&1; then
    echo "rehearsal: a 'python' was on the sandbox PATH" >&2
    exit 1
fi
failed=$(awk '/^== /{name=$2} /^   exit [1-9]/{print name}' \
    "$OUT/summary.txt" | tr -d ':' | tr '\n' ' ')
steps=$(grep -c '^== ' "$OUT/summary.txt")
if [ -n "$failed" ] || [ "$steps" = 0 ]; then
    echo "rehearsal FAILED: steps exiting non-zero: ${failed:-none run}" >&2
    exit 1
fi
echo "rehearsal passed: $steps steps, every one exited 0 (logs: $OUT)"
