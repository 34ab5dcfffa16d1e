"""Expert specialisation of a trained MoE model: routing frequency by class and by token kind.

    python benchmarks/moe_routing.py runs/document/sst5/moe/seed1/best [--dataset sst5]

Runs the model over the test split with routing recorded and measures, for every MoE layer and expert, (1) how
often a token's top-k choice includes that expert and (2) the gate weight the expert gets (0 when not chosen),
split (a) by the gold class of the sentence and (b) by token kind: sentiment-bearing words (in the VADER lexicon
with |valence| >= 1.0), negations, intensifiers, and all other words (subwords count for their word; [CLS]/[SEP]
are left out). The heatmaps show the mean gate weight (rows sum to 1): with top_k equal to the number of experts
every token goes to every expert, so only the gates can show specialisation. Writes one PNG heatmap per layer and
view, and a JSON file with both measures and the counts.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from sentimentkit.data.collate import pad_batch
from sentimentkit.data.datasets import data_dir, load_dataset
from sentimentkit.data.encoding import TextItem, encode_texts
from sentimentkit.data.lexicon import read_vader
from sentimentkit.models import load_checkpoint
from sentimentkit.models.base import load_model_tokenizer
from sentimentkit.models.moe import moe_layers

NEGATIONS = {
    "not",
    "no",
    "never",
    "n't",
    "nothing",
    "nobody",
    "none",
    "neither",
    "nor",
    "cannot",
    "without",
    "nowhere",
    "hardly",
    "barely",
}
INTENSIFIERS = {
    "very",
    "really",
    "extremely",
    "so",
    "too",
    "quite",
    "absolutely",
    "completely",
    "totally",
    "incredibly",
    "highly",
    "most",
    "more",
    "less",
    "least",
    "utterly",
    "truly",
    "pretty",
    "rather",
    "remarkably",
    "thoroughly",
    "particularly",
    "especially",
    "deeply",
    "seriously",
    "super",
}
KINDS = ("sentiment word", "negation", "intensifier", "other")


def word_kinds(encodings, row: int, text: str, vader) -> list[str | None]:
    """The kind of each subword's word in row `row` of an encoding with special tokens (None for those)."""
    kinds = []
    for word_id in encodings.word_ids(row):
        if word_id is None:
            kinds.append(None)
            continue
        start, end = encodings.word_to_chars(row, word_id)
        word = text[start:end].lower()
        if word in NEGATIONS or word.endswith("n't"):
            kinds.append("negation")
        elif word in INTENSIFIERS:
            kinds.append("intensifier")
        elif abs(vader.get(word) or 0.0) >= 1.0:
            kinds.append("sentiment word")
        else:
            kinds.append("other")
    return kinds


def token_kinds(encodings, row: int, text: str, vader, item: TextItem, truncation: str) -> list[str | None]:
    """The kind of each position of the model's input `item` (None for [CLS]/[SEP]).

    `encodings` is the text encoded whole (no truncation); the item keeps the head, or the head and the tail, of
    its subwords (`encode_texts`), so each kept position is mapped back to its subword in the whole text.
    """
    whole = word_kinds(encodings, row, text, vader)[1:-1]  # without [CLS] and [SEP]
    kept = len(item.input_ids) - 2
    if not item.truncated:
        inner = whole
    elif truncation == "head":
        inner = whole[:kept]
    else:  # "head+tail": the first quarter of the budget and the last three quarters
        head = kept // 4
        inner = whole[:head] + whole[len(whole) - (kept - head) :]
    if len(inner) != kept:
        raise ValueError(f"token kinds of {text[:40]!r}: {len(inner)} subwords for {kept} model positions")
    return [None, *inner, None]


def heatmap(matrix: np.ndarray, rows: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 1.6 + 1.1 * matrix.shape[1]
    fig, ax = plt.subplots(figsize=(width, 0.8 + 0.45 * len(rows)))
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=max(0.5, float(matrix.max())))
    ax.set_xticks(range(matrix.shape[1]), [f"E{e}" for e in range(matrix.shape[1])])
    ax.set_xlabel("expert")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", color="w" if matrix[i, j] < 0.35 else "k")
    ax.set_title("\n".join(textwrap.wrap(title, max(16, int(9 * width)))), fontsize=9)  # a narrow map clipped it
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--dataset", default="sst5")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "moe_routing")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    model, manifest = load_checkpoint(args.model)
    tokenizer = load_model_tokenizer(manifest)
    layers = moe_layers(model)
    if not layers:
        raise SystemExit(f"{args.model} has no MoE layers")
    max_length = int(manifest.preprocessing.get("max_length", 128))
    truncation = str(manifest.preprocessing.get("truncation", "head"))
    vader = read_vader(data_dir(args.data_dir) / "lexicons" / "vader" / "vader_lexicon.txt")
    examples = load_dataset(args.dataset, "test", args.data_dir)
    classes = list(manifest.labels.names)
    num_experts = int(layers[0].router.out_features)
    by_class = np.zeros((len(layers), len(classes), num_experts))
    by_kind = np.zeros((len(layers), len(KINDS), num_experts))
    gate_by_class, gate_by_kind = np.zeros_like(by_class), np.zeros_like(by_kind)  # summed gate weights
    tokens_by_kind: dict[str, int] = defaultdict(int)

    model.eval()
    with torch.inference_mode():
        for start in range(0, len(examples), 32):
            chunk = examples[start : start + 32]
            texts = [x.text for x in chunk]
            items = encode_texts(tokenizer, texts, max_length, truncation)
            encodings = tokenizer(texts)  # whole texts, for the word of each subword
            extras = model(pad_batch(items), record_routing=True).extras
            routing, gates = extras["routing_experts"], extras["routing_gates"]  # (L, B, T, k) each
            for row, example in enumerate(chunk):
                kinds = token_kinds(encodings, row, example.text, vader, items[row], truncation)
                label = classes.index(example.label)
                for position, kind in enumerate(kinds):
                    if kind is None:
                        continue
                    tokens_by_kind[kind] += 1
                    for li in range(len(layers)):
                        chosen = routing[li, row, position].tolist()
                        for expert, gate in zip(chosen, gates[li, row, position].tolist(), strict=True):
                            by_class[li, label, expert] += 1
                            by_kind[li, KINDS.index(kind), expert] += 1
                            gate_by_class[li, label, expert] += gate
                            gate_by_kind[li, KINDS.index(kind), expert] += gate

    args.out.mkdir(parents=True, exist_ok=True)
    shares = {}
    for li in range(len(layers)):
        views = (("class", by_class[li], gate_by_class[li], classes), ("kind", by_kind[li], gate_by_kind[li], KINDS))
        for name, counts, gate_sums, rows in views:
            share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
            gate_share = gate_sums / np.maximum(gate_sums.sum(1, keepdims=True), 1e-12)
            shares[f"layer{li}_{name}"] = {
                "rows": list(rows),
                "share": share.round(4).tolist(),
                "gate_share": gate_share.round(4).tolist(),
                "counts": counts.tolist(),
            }
            heatmap(
                gate_share,
                list(rows),
                f"MoE layer {li} (encoder block {li - len(layers)}): mean gate weight by {name}",
                args.out / f"layer{li}_by_{name}.png",
            )
    summary = {
        "model": str(args.model),
        "dataset": args.dataset,
        "split": "test",
        "top_k": layers[0].top_k,
        "tokens_by_kind": dict(tokens_by_kind),
        "views": shares,
    }
    (args.out / "routing.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v["gate_share"] for k, v in shares.items()}, indent=1))


if __name__ == "__main__":
    main()
