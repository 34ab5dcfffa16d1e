"""Train the dependency parser on UD English EWT and ship it as sentimentkit/pretrained/parser-en.

    python scripts/train_parser.py                      # convert, train (configs/parser-ewt.cfg), package
    python benchmarks/parser.py                         # UAS / LAS on EWT dev and test -> results/parser.json
    python scripts/train_parser.py --stages package     # rewrite the model card with those numbers

Stages, each skipped when its output exists (`--force` redoes them):
- convert: the EWT train and dev CoNLL-U files (read through sentimentkit's reader, `.xz` included) -> spaCy
  DocBin files under <out>/corpus, one sentence per Doc, gold tokens at the word level (multiword tokens split as
  UD does), XPOS as `tag`, UPOS as `pos`, HEAD/DEPREL for the parser. The test file is not read here.
- train: `spacy train` on the config, one CPU thread by default; model selection on EWT dev only; writes
  <out>/model-best and <out>/model-last, and <out>/train_time.json. An interrupted run restarts from scratch.
- package: <out>/model-best -> sentimentkit/pretrained/parser-en (nlp.to_disk) with meta and a README.md model
  card (numbers from benchmarks/results/parser.json when that file has them).

Run it in the background on a shared machine:
    mkdir -p runs/parser && nohup python scripts/train_parser.py > runs/parser/train.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the benchmarks/ helpers, when run from anywhere

TARGET = REPO / "sentimentkit" / "pretrained" / "parser-en"
EWT = "ud_english_ewt/en_ewt-ud-{split}.conllu.xz"
SPACY_RANGE = ">=3.8.0,<3.9.0"

CARD = """# parser-en

A small English dependency parser and part-of-speech tagger for sentimentkit's aspect-based sentiment models:
a spaCy {spacy_version} pipeline (tok2vec + tagger + morphologizer + parser) trained by the project from scratch
(no pretrained vectors) on Universal Dependencies English EWT v2.16. Load it with
`sentimentkit.data.syntax.load_parser()` or `spacy.load(...)` on this folder.

| | |
|---|---|
| components | tok2vec: CNN (MultiHashEmbed {attrs}, rows {rows}; MaxoutWindowEncoder width {width}, depth {depth}), shared by tagger (XPOS, Penn Treebank tags -> `token.tag_`), morphologizer (UPOS only -> `token.pos_`) and a transition-based parser (arc-eager, pseudo-projective; hidden width {hidden}) |
| labels | {n_deps} dependency relations (UD v2 with subtypes; the root is `ROOT` inside spaCy, `root` in sentimentkit's `DepParse`; relations whose parser actions occur fewer than {min_freq} times in train, such as `orphan`, `dislocated`, `csubj:pass`, come out as `dep`), {n_tags} XPOS tags, {n_pos} UPOS tags |
| training data | UD English EWT v2.16 train (12,544 sentences, 204,577 words), gold tokens at the word level |
| model selection | EWT dev (2,001 sentences), every {eval_frequency} steps, {selection}; the test set is read only by benchmarks/parser.py |
| training | {steps} steps, batches of 100 -> 1000 words, Adam lr {lr} with parameter averaging, dropout {dropout}, seed {seed}; {train_time} on {threads} CPU thread(s) |
| size | {size_mb:.1f} MB on disk |
| licence | the weights derive from UD English EWT, licensed CC BY-SA 4.0 (https://github.com/UniversalDependencies/UD_English-EWT); this pipeline is shared under the same licence |

## Metrics

{metrics}

## Input

Pre-tokenized words (`spacy.tokens.Doc(nlp.vocab, words=[...])`, as the ABSA datasets give them) or raw text (spaCy's
English tokenizer, which follows EWT's conventions closely but not exactly). sentimentkit parses every input as one
sentence. Trained on web text (blogs, reviews, email, Q&A); expect lower accuracy on tweets.

## Retrain

    pip install "sentimentkit[absa]"
    python scripts/train_parser.py                   # data from $SENTIMENTKIT_DATA or ../shared/data
    python benchmarks/parser.py
    python scripts/train_parser.py --stages package  # this card, with the benchmark's numbers
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "parser-ewt.cfg")
    parser.add_argument("--data-dir", help="the benchmark data folder (default: $SENTIMENTKIT_DATA or ../shared/data)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "parser")
    parser.add_argument("--stages", nargs="+", choices=["convert", "train", "package"], default=["convert", "train", "package"])  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for numpy/BLAS (default 1)")
    parser.add_argument("--force", action="store_true", help="redo stages whose output exists")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. training.max_steps=100")  # fmt: skip
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported (spaCy imports it)
    overrides = dict(_override(item) for item in args.set)

    out = args.out.resolve()
    corpus = out / "corpus"
    if "convert" in args.stages:
        convert(args.data_dir, corpus, args.force)
    if "train" in args.stages:
        train(args.config, corpus, out, overrides, args.threads, args.force)
    if "package" in args.stages:
        package(args.config, out, TARGET)


def _override(item: str) -> tuple[str, object]:
    key, eq, value = item.partition("=")
    if not eq:
        raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. training.max_steps=100")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def convert(data_dir: str | None, corpus: Path, force: bool) -> None:
    """EWT train/dev CoNLL-U -> <corpus>/{train,dev}.spacy."""
    import spacy
    from spacy.tokens import DocBin

    from sentimentkit.data.datasets import data_dir as find_data_dir
    from sentimentkit.data.readers import read_conllu
    from sentimentkit.data.syntax import doc_from_parse

    corpus.mkdir(parents=True, exist_ok=True)
    root = find_data_dir(data_dir)
    vocab = spacy.blank("en").vocab
    for split in ("train", "dev"):
        target = corpus / f"{split}.spacy"
        if target.exists() and not force:
            print(f"convert: {target} exists, kept", flush=True)
            continue
        docs = DocBin(attrs=["ORTH", "TAG", "POS", "HEAD", "DEP", "SENT_START"])
        n_words = 0
        for parse in read_conllu(root / EWT.format(split=split)):
            docs.add(doc_from_parse(vocab, parse))
            n_words += len(parse.words)
        docs.to_disk(target)
        print(f"convert: {split}: {len(docs)} sentences, {n_words} words -> {target}", flush=True)


def train(config: Path, corpus: Path, out: Path, overrides: dict, threads: int, force: bool) -> None:
    """spacy train -> <out>/model-best (selected on dev) and <out>/model-last."""
    from spacy.cli.train import train as spacy_train

    if (out / "model-best").exists() and (out / "train_time.json").exists() and not force:
        print(f"train: {out / 'model-best'} exists, kept (--force retrains)", flush=True)
        return
    for name in ("model-best", "model-last"):
        shutil.rmtree(out / name, ignore_errors=True)
    overrides = {"paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy"), **overrides}
    start = time.perf_counter()
    spacy_train(config, out, use_gpu=-1, overrides=overrides)
    seconds = time.perf_counter() - start
    overrides = {k: _rel(Path(v)) if k.startswith("paths.") else v for k, v in overrides.items()}
    record = {"seconds": round(seconds, 1), "threads": threads, "overrides": overrides, "config": _rel(config)}
    (out / "train_time.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"train: {seconds / 60:.1f} min", flush=True)


def package(config: Path, out: Path, target: Path) -> None:
    """<out>/model-best -> the package folder, with meta and model card."""
    import spacy
    from thinc.api import Config

    best = out / "model-best"
    if not best.exists():
        raise SystemExit(f"package: {best} is missing; run the train stage first")
    nlp = spacy.load(best)
    cfg = nlp.config.interpolate()
    timing = json.loads((out / "train_time.json").read_text()) if (out / "train_time.json").exists() else {}
    nlp.meta.update(
        name="parser_en",
        version="0.1.0",
        description="sentimentkit's English dependency parser and tagger, trained on UD English EWT v2.16",
        author="sentimentkit",
        license="CC BY-SA 4.0",
        spacy_version=SPACY_RANGE,
        sources=[
            {
                "name": "Universal Dependencies English EWT",
                "url": "https://github.com/UniversalDependencies/UD_English-EWT",
                "license": "CC BY-SA 4.0",
                "version": "2.16",
            }
        ],
    )
    shutil.rmtree(target, ignore_errors=True)
    nlp.to_disk(target)
    shipped = Config().from_disk(target / "config.cfg", interpolate=False)
    shipped["paths"].update(train=None, dev=None)  # this machine's corpus paths mean nothing elsewhere
    shipped.to_disk(target / "config.cfg")
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    tok2vec = cfg["components"]["tok2vec"]["model"]
    training = cfg["training"]
    card = CARD.format(
        spacy_version=spacy.__version__,
        attrs=", ".join(tok2vec["embed"]["attrs"]),
        rows=", ".join(map(str, tok2vec["embed"]["rows"])),
        width=tok2vec["encode"]["width"],
        depth=tok2vec["encode"]["depth"],
        hidden=cfg["components"]["parser"]["model"]["hidden_width"],
        n_deps=len(nlp.get_pipe("parser").labels),
        min_freq=cfg["components"]["parser"]["min_action_freq"],
        n_tags=len(nlp.get_pipe("tagger").labels),
        n_pos=len(nlp.get_pipe("morphologizer").labels),
        eval_frequency=training["eval_frequency"],
        selection=", ".join(f"{k} x {v}" for k, v in training["score_weights"].items() if v),
        steps=training["max_steps"],
        lr=training["optimizer"]["learn_rate"],
        dropout=training["dropout"],
        seed=training["seed"],
        train_time=f"{timing['seconds'] / 60:.0f} minutes" if timing else "(time not recorded)",
        threads=timing.get("threads", "?"),
        size_mb=size / 1e6,
        metrics=_metrics_text(nlp.meta.get("performance", {})),
    )
    (target / "README.md").write_text(card)
    print(f"package: {target} ({size / 1e6:.1f} MB)", flush=True)


def _metrics_text(performance: dict) -> str:
    """The benchmark's rows (results/parser.json) if present; spaCy's dev scores from training always."""
    lines = []
    results = REPO / "benchmarks" / "results" / "parser.json"
    rows = json.loads(results.read_text()) if results.exists() else []
    rows = [r for r in rows if r["model"] == "parser-en" and r["dataset"] == "ud-ewt"]
    if rows:
        lines += [
            "From `python benchmarks/parser.py` (gold tokens, CoNLL 2018 definitions: every word counts, punctuation "
            "included; LAS compares the universal part of the relation, `las_full` the relation with its subtype):",
            "",
            "| split | sentences | UAS | LAS | LAS (full labels) | UPOS acc. | XPOS acc. | sentences/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(rows, key=lambda r: r["split"] != "validation"):
            m = {k: v["mean"] for k, v in r["metrics"].items()}
            lines.append(
                f"| {'dev' if r['split'] == 'validation' else r['split']} | {r['settings']['sentences']} | "
                f"{m['uas']:.4f} | {m['las']:.4f} | {m['las_full']:.4f} | {m['upos_accuracy']:.4f} | "
                f"{m['xpos_accuracy']:.4f} | {m['samples_per_s']:.0f} |"
            )
        lines += ["", f"Speed: {rows[-1]['settings'].get('speed_note', '')}.", ""]
    else:
        lines += ["Test-set numbers: run `python benchmarks/parser.py`, then `--stages package` again.", ""]
    if performance:
        lines.append(
            "spaCy's own dev scores at selection (its scorer leaves punctuation out): "
            + ", ".join(f"{k} {performance[k]:.4f}" for k in ("dep_uas", "dep_las", "tag_acc", "pos_acc"))
            + "."
        )
    return "\n".join(lines)


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    main()
