#!/usr/bin/env bash
# The gated-expert MoE study: full fine-tuning vs MoE vs plain-FFN MoE on one dataset, per seed.
# Runs are resumable (rerun the same line after an interruption); each invocation trains what is missing.
# Usage: bash benchmarks/document_study.sh DATASET SEED [SEED ...]   (one queue per core: OMP_NUM_THREADS=1)
# The SST-5 rows were made with two queues: `... sst5 1 3` and `... sst5 2`.
# Datasets run with --set overrides (tweeteval-emotion, imdb) keep their runs in runs/document/DATASET/MODEL~HASH
# (a hash of the overrides; see benchmarks/document.py), apart from runs of the plain config.
set -euo pipefail
cd "$(dirname "$0")/.."
dataset="$1"
shift
extra=()
case "$dataset" in
  tweeteval-emotion) extra=(--set train.eval_every=51 --set train.checkpoint_every=51) ;;  # every half epoch
  imdb)  # long reviews: a 4000-review sample, 256 tokens head+tail, one epoch, a fixed 5000-review test sample
    extra=(--set data.max_length=256 --set data.truncation=head+tail --set data.train_subset=4000
      --set train.epochs=1 --set train.eval_every=63 --set train.checkpoint_every=63 --test-subset 5000) ;;
esac
for seed in "$@"; do
  for model in full-ft moe moe-ffn; do
    python benchmarks/document.py --model "$model" --dataset "$dataset" --seeds "$seed" "${extra[@]}"
  done
done
# Afterwards, one row per model over all seeds:
#   for m in full-ft moe moe-ffn; do python benchmarks/document.py --model $m --dataset DATASET --seeds 1 2 3 \
#     --eval-only EXTRA; done    (EXTRA: the same settings as above for that dataset; saved test scores are reused)
