"""Score the shipped dependency parser on UD English EWT: UAS, LAS, tagging accuracy and speed.

    python benchmarks/parser.py                          # dev and test -> results/parser.json
    python benchmarks/parser.py --parser en_core_web_sm --model en_core_web_sm   # any spaCy pipeline

Input is the gold words of each sentence (spaCy `Doc(words=...)`, through sentimentkit.data.syntax, one sentence
per input), so the numbers measure parsing and tagging, not tokenization. Definitions as in the CoNLL 2018 shared
task, on words (multiword tokens split): every word counts, punctuation included; UAS = right head; LAS = right
head and right universal relation (the part before ':'; `las_full` compares the whole relation, subtypes included).
Speed: sentences per second of `parse_many` (batch 256, cache off, one thread by default), the median of
--speed-runs passes over the split, measured on a shared machine, so compare it only within one run.
The dev split was used for model selection by scripts/train_parser.py; the test split is read only here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from common import command_line, summary, write_rows

EWT = "ud_english_ewt/en_ewt-ud-{split}.conllu.xz"
SPLITS = {"dev": "validation", "test": "test"}


def score(gold: list, predicted: list) -> dict[str, float]:
    """UAS, LAS (universal relation), LAS with subtypes, UPOS and XPOS accuracy over all words."""
    n = uas = las = las_full = upos = xpos = 0
    for g, p in zip(gold, predicted, strict=True):
        if g.words != p.words:
            raise ValueError(f"sentence {g.id}: the parser changed the words: {g.words[:8]} -> {p.words[:8]}")
        for i in range(len(g.words)):
            n += 1
            head = g.heads[i] == p.heads[i]
            uas += head
            las += head and g.deprels[i].split(":")[0] == p.deprels[i].split(":")[0]
            las_full += head and g.deprels[i] == p.deprels[i]
            upos += bool(p.upos) and g.upos[i] == p.upos[i]
            xpos += bool(p.pos) and g.pos[i] == p.pos[i]
    return {
        "uas": uas / n,
        "las": las / n,
        "las_full": las_full / n,
        "upos_accuracy": upos / n,
        "xpos_accuracy": xpos / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parser", default="parser-en", help="shipped name, spaCy package or pipeline directory")
    parser.add_argument("--model", default="parser-en", help="the model name written in the result row")
    parser.add_argument("--splits", nargs="+", choices=list(SPLITS), default=["dev", "test"])
    parser.add_argument("--data-dir", help="the benchmark data folder (default: $SENTIMENTKIT_DATA or ../shared/data)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--speed-runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported (spaCy imports it)

    import spacy

    from sentimentkit.data.datasets import data_dir
    from sentimentkit.data.readers import read_conllu
    from sentimentkit.data.syntax import load_parser
    from sentimentkit.training.experiment import environment

    nlp_parser = load_parser(args.parser, cache_size=0)
    env = {**environment(), "threads": str(args.threads), "spacy": spacy.__version__}
    backbone = "spaCy CNN tok2vec (trained from scratch)" if args.parser == "parser-en" else f"spaCy {args.parser}"
    rows = []
    for split in args.splits:
        gold = list(read_conllu(data_dir(args.data_dir) / EWT.format(split=split)))
        words = [g.words for g in gold]
        rates, predicted = [], None
        for _ in range(args.speed_runs):
            start = time.perf_counter()
            predicted = nlp_parser.parse_many(words, batch_size=args.batch_size)
            rates.append(len(words) / (time.perf_counter() - start))
        metrics = score(gold, predicted)
        speed = statistics.median(rates)
        print(
            f"{args.model} EWT {split}: UAS {metrics['uas']:.4f} LAS {metrics['las']:.4f} "
            f"(full labels {metrics['las_full']:.4f}) UPOS {metrics['upos_accuracy']:.4f} "
            f"XPOS {metrics['xpos_accuracy']:.4f}; {speed:.0f} sentences/s (median of {args.speed_runs})",
            flush=True,
        )
        rows.append(
            {
                "suite": "parser",
                "task": "dependency-parsing",
                "dataset": "ud-ewt",
                "split": SPLITS[split],
                "model": args.model,
                "backbone": backbone,
                "metrics": {**{k: summary([v]) for k, v in metrics.items()}, "samples_per_s": summary([speed])},
                "settings": {
                    "data": "UD English EWT v2.16",
                    "sentences": len(gold),
                    "words": sum(len(w) for w in words),
                    "input": "gold words, one sentence per input",
                    "punctuation": "included",
                    "las": "CoNLL 2018: universal relation (subtype ignored); las_full: whole relation",
                    "batch_size": args.batch_size,
                    "threads": args.threads,
                    "speed_note": f"median of {args.speed_runs} passes over the split, sentences/s, "
                    f"{args.threads} thread(s), shared 2-core CPU",
                },
                "command": command_line(),
                "env": env,
            }
        )
    print(write_rows("parser", rows))


if __name__ == "__main__":
    main()
