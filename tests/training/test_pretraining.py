"""Encoder pretraining end to end on a tiny backbone: SKESL and the MLM control train on a raw-text file, select on the
held-out sentences, leave `best/encoder` and the masking counts, and `model.init_from` starts other models from that
encoder (and refuses what cannot work)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.config import ConfigError
from sentimentkit.labels import SENTIMENT5
from sentimentkit.models import build_model
from sentimentkit.models.base import model_config
from sentimentkit.tasks.pretraining import sentences, split_pool
from sentimentkit.training.experiment import load_experiment, train

runner = CliRunner()
WORDS = ["good", "bad", "great", "awful", "the", "plot", "actors", "ending", "was", "and", "film", "music"]


def _corpus(path: Path, n: int = 120) -> Path:
    rows = []
    for i in range(n):
        words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(4 + i % 5)]
        rows.append(" ".join(words) + ". " + ("Nothing here at all." if i % 4 == 0 else "It was a film."))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _lexicon(path: Path) -> Path:
    scores = {"good": 1.9, "bad": -2.5, "great": 3.1, "awful": -2.0}
    path.write_text("".join(f"{w}\t{s}\t0.5\t[1, 2]\n" for w, s in scores.items()), encoding="utf-8")
    return path


def _config(tmp_path: Path, kind: str, backbone: str, extra: str = "") -> Path:
    config = tmp_path / f"{kind}.yaml"
    lexicon = f", lexicon: {_lexicon(tmp_path / 'lex.txt')}" if kind == "skesl-text" else ""
    config.write_text(
        f"model: {{type: {kind}, backbone: {backbone}, heldout: 20{lexicon}{extra}}}\n"
        f"data: {{train: {_corpus(tmp_path / 'corpus.txt')}, max_length: 16}}\n"
        "train: {epochs: 1, batch_size: 16, lr: 0.001, eval_every: 5, patience: null, "
        f"metric: {'mae' if kind == 'skesl-text' else 'loss'}, seed: 3}}\n"
        f"output: {tmp_path / kind}/seed{{seed}}\n",
        encoding="utf-8",
    )
    return config


def test_sentences_are_cut_filtered_and_split_the_same_way_for_every_run():
    texts = ["One two three. Four five six seven!<br /><br />Eight nine ten", "too short", "x y z"]
    assert sentences(texts, 3) == ["One two three.", "Four five six seven!", "Eight nine ten", "x y z"]
    pool = [f"sentence number {i}" for i in range(400)]
    train_a, held_a = split_pool(pool, 50, None)
    train_b, held_b = split_pool(pool, 50, 40)
    assert held_a == held_b and len(held_a) == 20  # at most 5 % is held out, the same slice
    assert train_b == train_a[:40] and not set(held_a) & set(train_a)  # nested subsets, disjoint from held-out


@pytest.mark.parametrize("kind", ["skesl-text", "mlm-text"])
def test_pretraining_selects_on_held_out_text_and_exports_an_encoder(tmp_path, tiny_backbone, kind):
    config = load_experiment(_config(tmp_path, kind, tiny_backbone))
    result = train(config, progress=False)
    best = tmp_path / kind / "seed3" / "best"
    info = json.loads((best / "pretraining.json").read_text())
    assert info["sentences"] == 240 and info["heldout"] == 12 and info["train"] == 228  # 5 % held out
    metric = "mae" if kind == "skesl-text" else "loss"
    assert result.best_metric == result.best_metrics[metric] and result.best_metric > 0
    if kind == "skesl-text":
        masking = info["masking"]["train"]
        assert masking["with_lexicon_word"] + masking["without_lexicon_word"] == info["train"]
        assert masking["without_lexicon_word"] > 0 and set(masking["most_masked"]) <= {"good", "bad", "great", "awful"}
    # the exported encoder is the trained one: its weights differ from the backbone it started from
    exported = load_file(str(best / "encoder" / "model.safetensors"))
    original = load_file(str(Path(tiny_backbone) / "model.safetensors"))
    key = "encoder.layer.0.attention.self.query.weight"
    assert exported[key].shape == original[key].shape and not torch.equal(exported[key], original[key])
    # any model with a text encoder starts from it
    torch.manual_seed(0)
    downstream = build_model({"type": "full-ft", "init_from": str(best)}, SENTIMENT5)
    assert torch.equal(downstream.encoder.model.state_dict()[key], exported[key])
    regressor = model_config({"type": "text-regressor", "backbone": str(best), "text_encoder": "frozen"})
    assert regressor.backbone == str(best)  # a plain backbone path still works as before


def test_init_from_refuses_what_cannot_work(tmp_path, tiny_backbone):
    config = load_experiment(_config(tmp_path, "mlm-text", tiny_backbone))
    train(config, progress=False)
    best = tmp_path / "mlm-text" / "seed3" / "best"
    with pytest.raises(ConfigError, match="no pretrained encoder"):
        model_config({"type": "full-ft", "init_from": str(tmp_path)})
    with pytest.raises(ConfigError, match="no pretrained text encoder"):
        model_config({"type": "bilstm-attn", "init_from": str(best)})
    with pytest.raises(ConfigError, match="pretrained from backbone"):
        model_config({"type": "full-ft", "backbone": "minilm", "init_from": str(best)})
    ok = model_config({"type": "full-ft", "backbone": tiny_backbone, "init_from": str(best)})
    assert ok.backbone == str((best / "encoder").resolve())
    with pytest.raises(ConfigError, match="pretraining trains the encoder"):
        model_config({"type": "skesl-text", "adapter": "frozen"})


def test_the_pretrain_command_reports_the_encoder_and_refuses_other_models(tmp_path, tiny_backbone):
    config = _config(tmp_path, "skesl-text", tiny_backbone, ", adapter: lora, lora_r: 2")
    out = runner.invoke(app, ["pretrain", str(config), "--no-progress"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert Path(summary["encoder"], "model.safetensors").exists()
    assert summary["pretraining"]["masking"]["train"]["sentences"] == summary["pretraining"]["train"]
    # LoRA adapters are merged into the exported encoder: plain BERT weights, no adapter tensors
    assert not [k for k in load_file(str(Path(summary["encoder"], "model.safetensors"))) if "lora" in k]
    other = tmp_path / "doc.yaml"
    other.write_text(f"model: {{type: full-ft, backbone: {tiny_backbone}}}\n", encoding="utf-8")
    refused = runner.invoke(app, ["pretrain", str(other)])
    assert refused.exit_code == 2 and "not a pretraining model" in refused.output


def test_an_interrupted_pretraining_resumes_to_the_uninterrupted_weights(tmp_path, tiny_backbone):
    """The random fallback masks are drawn from torch's RNG, which checkpoints save: resuming redraws the same ones."""
    from sentimentkit.models.base import trainable_state
    from sentimentkit.training.experiment import prepare

    config = _config(tmp_path, "skesl-text", tiny_backbone)
    settings = ["train.checkpoint_every=3", "train.eval_every=100"]
    full = prepare(load_experiment(config, [*settings, f"output={tmp_path / 'full'}"]))
    full.fit(progress=False)
    reference = trainable_state(full.model)

    cut = prepare(load_experiment(config, [*settings, f"output={tmp_path / 'cut'}"]))
    calls, original = {"n": 0}, cut.model.forward

    def dying_forward(*args, **kwargs):
        if cut.model.training:
            calls["n"] += 1
            if calls["n"] == 8:
                raise KeyboardInterrupt
        return original(*args, **kwargs)

    cut.model.forward = dying_forward
    with pytest.raises(KeyboardInterrupt):
        cut.fit(progress=False)
    resumed = prepare(load_experiment(config, [*settings, f"output={tmp_path / 'cut'}"]))
    resumed.fit(progress=False)
    for name, tensor in trainable_state(resumed.model).items():
        assert torch.equal(tensor, reference[name]), name
