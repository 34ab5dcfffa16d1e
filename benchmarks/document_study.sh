#!/usr/bin/env bash
# The gated-expert MoE study on SST-5: full fine-tuning vs MoE vs plain-FFN MoE, three seeds each.
# Runs are resumable (rerun the same line after an interruption); each invocation trains what is missing.
# Usage: bash benchmarks/document_study.sh SEED [SEED ...]   (one queue per core: OMP_NUM_THREADS=1)
set -euo pipefail
cd "$(dirname "$0")/.."
for seed in "$@"; do
  for model in full-ft moe moe-ffn; do
    python benchmarks/document.py --model "$model" --dataset sst5 --seeds "$seed"
  done
done
# Afterwards, one row per model over all seeds:
#   for m in full-ft moe moe-ffn; do python benchmarks/document.py --model $m --dataset sst5 --seeds 1 2 3 --eval-only; done
