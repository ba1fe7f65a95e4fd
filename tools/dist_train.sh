#!/usr/bin/env bash
# Distributed training: tools/dist_train.sh CONFIG GPUS [train.py arguments]
# Uses the repo's .venv interpreter (override with PYTHON=...).
CONFIG=$1
GPUS=$2
PORT=${PORT:-29500}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
PYTHONPATH="$REPO":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" \
    --master_port="$PORT" "$REPO/tools/train.py" "$CONFIG" \
    --launcher pytorch "${@:3}"
