#!/usr/bin/env bash
# The gated-expert MoE study: full fine-tuning vs MoE vs plain-FFN MoE on one dataset, per seed.
# Runs are resumable (rerun the same line after an interruption); each invocation trains what is missing.
# Usage: bash benchmarks/document_study.sh DATASET SEED [SEED ...]   (one queue per core: OMP_NUM_THREADS=1)
# The SST-5 rows were made with two queues: `... sst5 1 3` and `... sst5 2`.
set -euo pipefail
cd "$(dirname "$0")/.."
dataset="$1"
shift
for seed in "$@"; do
  for model in full-ft moe moe-ffn; do
    python benchmarks/document.py --model "$model" --dataset "$dataset" --seeds "$seed"
  done
done
# Afterwards, one row per model over all seeds:
#   for m in full-ft moe moe-ffn; do python benchmarks/document.py --model $m --dataset DATASET --seeds 1 2 3 --eval-only; done
