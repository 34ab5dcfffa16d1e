"""SKESL's multimodal half: the non-verbal injection block (shapes, shared vs distinct layers, padding masks, missing
modalities), the unlabelled clip pool (train split only, no label anywhere), the pretraining model `skesl-mm` and the
fine-tuning model `skesl-ft` (overfit, save, reload), and `model.init_from` carrying the injection block across."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sentimentkit.config import ConfigError, DataConfig, ExperimentConfig, TrainConfig
from sentimentkit.data.collate import pad_multimodal_batch
from sentimentkit.data.encoding import MultimodalItem
from sentimentkit.data.lexicon import read_vader
from sentimentkit.data.masking import SentimentWordMasker
from sentimentkit.encoders.text import load_tokenizer
from sentimentkit.labels import LabelSet
from sentimentkit.models import MODELS, build_model, load_checkpoint, save_checkpoint
from sentimentkit.models.base import model_config
from sentimentkit.models.multimodal.common import count_parameters
from sentimentkit.models.multimodal.skesl import (
    INJECTION_SETTINGS,
    INJECTION_WEIGHTS,
    InjectionBlock,
    InjectionLayer,
    InjectionSettings,
)
from sentimentkit.models.pretraining import PRETRAINING_LABELS
from sentimentkit.multimodal import synmosi
from sentimentkit.tasks.pretraining_mm import (
    ClipIntensityItem,
    MultimodalSentimentWordPretraining,
    encode_clips,
    split_clips,
    unlabelled_clips,
)
from sentimentkit.types import MultimodalExample

VALUE = LabelSet.of(["value"])
SMALL = {"embed_dim": 8, "num_layers": 3, "input_lengths": [24, 40, 30]}
QUIET = {"injection_dropout": 0.0, "head_dropout": 0.0, "head_hidden": 16}
LEXICON = {"good": 1.9, "bad": -2.5, "great": 3.1, "awful": -3.4, "love": 3.2, "hate": -2.7, "sad": -2.1, "happy": 2.7}
TEXTS = [
    "i really love this movie",
    "the plot was bad",
    "great acting overall",
    "it was an awful film",
    "so sad at the end",
    "i hate the ending",
    "happy with how it went",
    "good but long",
    "nothing special here",
]


# --- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lexicon_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lexicon") / "vader_lexicon.txt"
    path.write_text("".join(f"{w}\t{s}\t0.5\t[1, 2]\n" for w, s in LEXICON.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """A data folder whose mosi/MOSI-label.csv has 16 train clips of 6 speakers, 2 validation and 2 test clips."""
    root = tmp_path_factory.mktemp("data")
    rows = ["video_id,clip_id,text,label,annotation,mode,label_by"]
    counts = [3, 3, 3, 3, 2, 2]
    k = 0
    for v, n in enumerate(counts):
        for c in range(n):
            label = round(((k * 7) % 13) / 2 - 3, 1)
            rows.append(f"train{v},{c},{TEXTS[k % len(TEXTS)]},{label},Neutral,train,0")
            k += 1
    for mode in ("valid", "test"):
        for c in range(2):
            rows.append(f"{mode}0,{c},{TEXTS[c]},2.0,Positive,{mode},0")
    (root / "mosi").mkdir()
    (root / "mosi" / "MOSI-label.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tokenizer(tiny_backbone):
    return load_tokenizer(tiny_backbone)


def frames(rng: np.random.Generator, batch: int, length: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    values = torch.from_numpy(rng.normal(size=(batch, length, dim)).astype(np.float32))
    return values, torch.ones(batch, length, dtype=torch.bool)


def clip_items(n: int = 8, seed: int = 0) -> list[MultimodalItem]:
    """n clips of different lengths; clip 1 has no vision frames, clip 2 more audio than input_lengths allow."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        words = tuple(int(t) for t in rng.integers(1000, 3000, size=2 + i % 5))
        items.append(
            MultimodalItem(
                input_ids=(101, *words, 102),
                audio=rng.normal(size=(60 if i == 2 else int(rng.integers(3, 30)), 5)).astype(np.float32),
                vision=rng.normal(size=(0 if i == 1 else int(rng.integers(2, 25)), 7)).astype(np.float32),
                label=float(rng.uniform(-3, 3)),
            )
        )
    return items


def predict(model: torch.nn.Module, batch) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(batch.without_labels()).logits


def overfit(model: torch.nn.Module, batch, steps: int = 150) -> list[float]:
    torch.manual_seed(0)
    model.train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model(batch).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if losses[-1] < losses[0] / 4:
            break
    return losses


# --- the injection block -------------------------------------------------------------------------------------------


def test_the_block_keeps_the_text_shape_and_counts_one_layer_in_the_reference_form():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.randn(3, 6, 16)
    audio, audio_mask = frames(rng, 3, 9, 5)
    vision, vision_mask = frames(rng, 3, 4, 7)
    reference = InjectionBlock(InjectionSettings(injection="reference", embed_dim=8, num_layers=4), 16, 5, 7)
    paper = InjectionBlock(InjectionSettings(injection="paper", embed_dim=8, num_layers=4), 16, 5, 7)
    layer = count_parameters(reference.layers[0])
    assert len(reference.layers) == 1 and reference.order == [0, 0, 0, 0]
    assert count_parameters(reference) == layer and count_parameters(paper) == 4 * layer
    assert len({id(m) for m in paper.layers}) == 4
    calls = []
    reference.layers[0].register_forward_hook(lambda *_: calls.append(1))
    for block in (reference, paper):
        assert block(x, audio, audio_mask, vision, vision_mask).shape == (3, 6, 16)
    assert len(calls) == 4  # the one shared layer runs num_layers times
    # the reference's sizes (text 768, audio 33, video 709, embed 256): its deduplicated parameter count
    full = InjectionBlock(InjectionSettings(injection="reference"), 768, 33, 709)
    assert count_parameters(full) == 1_766_092


def test_the_paper_form_adds_a_normalised_residual_and_the_reference_the_raw_text():
    torch.manual_seed(0)
    layer = InjectionLayer(16, {"audio": 0, "vision": 0}, 8, norm_residual=False, dropout=0.0, attention_dropout=0.0)
    x = torch.randn(2, 5, 16) * 3 + 1
    with torch.no_grad():
        expected = layer.linear(layer.norm(x)) + x  # no A/V at all: Y = X
        torch.testing.assert_close(layer(x, {}, True), expected)
        layer.norm_residual = True
        y = layer.norm(x)
        torch.testing.assert_close(layer(x, {}, True), layer.linear(layer.norm(y)) + y)


def test_padded_frames_change_nothing_for_real_positions_with_masks():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    x = torch.randn(2, 6, 16)
    audio, audio_mask = frames(rng, 2, 9, 5)
    vision, vision_mask = frames(rng, 2, 4, 7)
    extra_a, _ = frames(rng, 2, 5, 5)
    extra_v, _ = frames(rng, 2, 11, 7)
    longer = (
        torch.cat([audio, extra_a * 10], 1),
        torch.cat([audio_mask, torch.zeros(2, 5, dtype=torch.bool)], 1),
        torch.cat([vision, extra_v * 10], 1),
        torch.cat([vision_mask, torch.zeros(2, 11, dtype=torch.bool)], 1),
    )
    for form in ("reference", "paper"):
        block = InjectionBlock(InjectionSettings(injection=form, embed_dim=8, num_layers=2), 16, 5, 7).eval()
        with torch.no_grad():
            tight = block(x, audio, audio_mask, vision, vision_mask)
            torch.testing.assert_close(block(x, *longer), tight, atol=1e-5, rtol=1e-4)
            block.masks = False  # the reference attends to padding: the same extra frames now change the output
            assert not torch.allclose(block(x, *longer), tight, atol=1e-3)


def test_a_missing_modality_adds_nothing_and_a_dataset_without_one_builds_no_attention_for_it():
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    x = torch.randn(2, 6, 16)
    audio, audio_mask = frames(rng, 2, 9, 5)
    vision, vision_mask = frames(rng, 2, 4, 7)
    vision_mask[1] = False  # clip 1 has no vision frame
    for masks in (True, False):
        block = InjectionBlock(InjectionSettings(embed_dim=8, num_layers=2, masks=masks), 16, 5, 7).eval()
        with torch.no_grad():
            out = block(x, audio, audio_mask, vision, vision_mask)
            other = vision.clone()
            other[1] = torch.randn(4, 7) * 50
            changed = block(x, audio, audio_mask, other, vision_mask)
            # clip 1's vision values are irrelevant; the values equal a block that never saw vision
            torch.testing.assert_close(changed[1], out[1])
            no_vision = InjectionBlock(InjectionSettings(embed_dim=8, num_layers=2, masks=masks), 16, 5, 0).eval()
            no_vision.load_state_dict(
                {k: v for k, v in block.state_dict().items() if ".cma.vision." not in k}, strict=True
            )
            alone = no_vision(x, audio, audio_mask, vision[:, :0], vision_mask[:, :0])
            torch.testing.assert_close(alone[1], out[1])
            assert torch.isfinite(out).all()
    assert "vision" not in no_vision.layers[0].cma


# --- the unlabelled clip pool --------------------------------------------------------------------------------------


def test_pretraining_reads_only_the_train_split_and_drops_every_label(data_root, tokenizer, lexicon_file, monkeypatch):
    requested = []
    generate = synmosi.generate

    def spy(split, **kwargs):
        requested.append(split)
        return generate(split, **kwargs)

    monkeypatch.setattr(synmosi, "generate", spy)
    clips = unlabelled_clips("synmosi + synmosi:seed=3", str(data_root))
    assert requested == ["train", "train"] and len(clips) == 32
    assert all(x.label is None and dict(x.meta).keys() == {"speaker"} and not x.parts for x in clips)
    assert {x.meta["speaker"] for x in clips} == {f"train{v}" for v in range(6)}
    masker = SentimentWordMasker(tokenizer, read_vader(lexicon_file), max_length=24)
    items = encode_clips(masker, clips[:9])
    assert all(isinstance(x, ClipIntensityItem) and not hasattr(x, "label") for x in items)
    assert [x.text.label for x in items][:2] == [round(3.2 * 0.75, 3), round(-2.5 * 0.75, 3)]  # lexicon, not clip
    with pytest.raises(ValueError, match="carries a sentiment label"):
        encode_clips(masker, [replace(clips[0], label=1.0)])


def test_the_heldout_slice_is_whole_speakers_in_a_fixed_order(data_root):
    clips = unlabelled_clips("synmosi", str(data_root))
    train, held = split_clips(clips, heldout=3, subset=None)
    held_speakers = {x.meta["speaker"] for x in held}
    assert held and len(held) <= 3 and not held_speakers & {x.meta["speaker"] for x in train}
    assert len(train) + len(held) == len(clips)
    again, held_again = split_clips(list(reversed(clips)), heldout=3, subset=5)
    assert {x.id for x in held_again} == {x.id for x in held} and len(again) == 5
    with pytest.raises(ValueError, match="no whole speaker"):
        split_clips(clips[:3], heldout=3, subset=None)


def test_the_task_refuses_a_validation_source(data_root, tiny_backbone, lexicon_file, tmp_path):
    config = pretrain_config(data_root, tiny_backbone, lexicon_file, tmp_path)
    config = replace(config, data=replace(config.data, validation="synmosi"))
    with pytest.raises(ConfigError, match="reads no validation clips"):
        MultimodalSentimentWordPretraining.for_training(config, model_config(config.model))


# --- the two models ------------------------------------------------------------------------------------------------


def test_registrations():
    assert MODELS.get("skesl-mm").task == "multimodal-sentiment-word-pretraining.v1"
    assert MODELS.get("skesl-ft").task == "multimodal-regression.v1"
    with pytest.raises(ConfigError, match="injection"):
        model_config({"type": "skesl-ft", "injection": "shared"})


def pretraining_batch(tokenizer, lexicon_file, seed: int = 0):
    task = MultimodalSentimentWordPretraining(PRETRAINING_LABELS, tokenizer, 24)
    masker = SentimentWordMasker(tokenizer, read_vader(lexicon_file), max_length=24)
    rng = np.random.default_rng(seed)
    clips = [
        MultimodalExample(
            text,
            rng.normal(size=(int(rng.integers(3, 50)), 5)).astype(np.float32),
            rng.normal(size=(0 if i == 1 else int(rng.integers(2, 25)), 7)).astype(np.float32),
        )
        for i, text in enumerate(TEXTS[:8])  # every one has a lexicon word: fixed positions, a fixed batch
    ]
    return task, task.collate(encode_clips(masker, clips))


@pytest.mark.parametrize("form", ["reference", "paper"])
def test_skesl_mm_overfits_then_saves_and_reloads_identically(form, tiny_backbone, tokenizer, lexicon_file, tmp_path):
    section = {"type": "skesl-mm", "backbone": tiny_backbone, "audio_dim": 5, "vision_dim": 7, "injection": form}
    section = {**section, **SMALL, **QUIET, "loss": "mse"}  # L1's constant-size steps are slow at this lr
    torch.manual_seed(0)
    model = build_model(section, PRETRAINING_LABELS)
    _, batch = pretraining_batch(tokenizer, lexicon_file)
    assert batch.labels.shape == (8,) and batch.positions.shape == (8, 1) and not batch.vision_mask[1].any()
    out = model(batch)
    assert out.logits.shape == (8, 1) and out.loss is not None and torch.isfinite(out.loss)
    assert not any(p.requires_grad for p in model.text.parameters())  # frozen text, as the reference pretrains
    losses = overfit(model, batch)
    assert losses[-1] < losses[0] / 4, losses[::10]
    before = predict(model, batch)
    save_checkpoint(model, tmp_path, {"model": section, "labels": ["intensity"]})
    loaded, _ = load_checkpoint(tmp_path)
    torch.testing.assert_close(predict(loaded, batch), before)


@pytest.mark.parametrize("compat", [False, True])
def test_skesl_ft_overfits_then_saves_and_reloads_identically(compat, tiny_backbone, tmp_path):
    section = {"type": "skesl-ft", "backbone": tiny_backbone, "audio_dim": 5, "vision_dim": 7, "compat": compat}
    section = {**section, **SMALL, **QUIET, "loss": "mse", "text_encoder": "full"}
    torch.manual_seed(0)
    model = build_model(section, VALUE)
    batch = pad_multimodal_batch(clip_items())
    assert model(batch).logits.shape == (8, 1)
    losses = overfit(model, batch)
    assert losses[-1] < losses[0] / 4, losses[::10]
    before = predict(model, batch)
    save_checkpoint(model, tmp_path, {"model": section, "labels": ["value"]})
    loaded, _ = load_checkpoint(tmp_path)
    torch.testing.assert_close(predict(loaded, batch), before)
    # a clip's value does not depend on how far its batch is padded (compat pads to input_lengths inside)
    padded = predict(loaded, pad_multimodal_batch(clip_items(), pad_to=(20, 45, 40)))
    torch.testing.assert_close(padded, before, atol=1e-5, rtol=1e-4)


def test_compat_pooling_averages_padding_and_the_clean_one_does_not(tiny_backbone):
    section = {"type": "skesl-ft", "backbone": tiny_backbone, "audio_dim": 5, "vision_dim": 7, **SMALL, **QUIET}
    items = clip_items(3)
    for compat in (False, True):
        torch.manual_seed(0)
        model = build_model({**section, "compat": compat}, VALUE)
        together = predict(model, pad_multimodal_batch(items))
        alone = torch.cat([predict(model, pad_multimodal_batch([x])) for x in items])
        torch.testing.assert_close(alone, together, atol=1e-5, rtol=1e-4)
    torch.manual_seed(0)
    clean = predict(build_model({**section, "compat": False}, VALUE), pad_multimodal_batch(items))
    torch.manual_seed(0)
    compat = predict(build_model({**section, "compat": True}, VALUE), pad_multimodal_batch(items))
    assert not torch.allclose(clean, compat)


# --- pretraining run -> fine-tuning with init_from -----------------------------------------------------------------


def pretrain_config(data_root: Path, backbone: str, lexicon: Path, output: Path) -> ExperimentConfig:
    model = {"type": "skesl-mm", "backbone": backbone, "lexicon": str(lexicon), "heldout": 3, **SMALL}
    data = DataConfig(train="synmosi", max_length=24, data_dir=str(data_root))
    train = TrainConfig(epochs=1, batch_size=4, lr=1e-4, head_lr=1e-3, metric="mae", patience=None, seed=1)
    return ExperimentConfig(model=model, data=data, train=train, output=str(output / "run"))


def test_a_pretraining_run_hands_its_encoder_and_injection_block_to_fine_tuning(
    data_root, tiny_backbone, lexicon_file, tmp_path
):
    from safetensors.torch import load_file

    from sentimentkit.training.experiment import prepare

    config = pretrain_config(data_root, tiny_backbone, lexicon_file, tmp_path)
    prepare(config).fit(progress=False)
    best = tmp_path / "run" / "best"
    encoder = best / "encoder"
    info = json.loads((best / "pretraining.json").read_text())
    assert info["split_read"] == "train" and info["clips"] == 16 and info["dims"] == [5, 20]
    assert info["heldout_mae_of_train_median"] >= 0
    assert (encoder / "model.safetensors").exists() and (encoder / INJECTION_WEIGHTS).exists()
    settings = json.loads((encoder / INJECTION_SETTINGS).read_text())
    assert settings["injection"] == "reference" and settings["num_layers"] == 3 and settings["text_dim"] == 32
    saved = load_file(str(best / "model.safetensors"))

    section = {"type": "skesl-ft", "backbone": tiny_backbone, "audio_dim": 5, "vision_dim": 20, **SMALL}
    started = build_model({**section, "init_from": str(best)}, VALUE)
    for name, value in started.injection.state_dict().items():
        torch.testing.assert_close(value, saved[f"injection.{name}"])
    torch.manual_seed(0)
    fresh = build_model(section, VALUE)  # the no-pretraining arm
    key = next(iter(fresh.injection.state_dict()))
    assert not torch.equal(fresh.injection.state_dict()[key], saved[f"injection.{key}"])
    # a fine-tuned model that started there saves and reloads (its backbone is the exported encoder)
    manifest = {"model": {**section, "backbone": str(encoder.resolve())}, "labels": ["value"]}
    save_checkpoint(started, tmp_path / "ft", manifest)
    batch = pad_multimodal_batch([replace_dims(x) for x in clip_items(3)])
    reloaded, _ = load_checkpoint(tmp_path / "ft")
    torch.testing.assert_close(predict(reloaded, batch), predict(started, batch))

    for change, message in (
        ({"injection": "paper"}, "injection: pretrained 'reference', this model 'paper'"),
        ({"num_layers": 2}, "num_layers: pretrained 3, this model 2"),
        ({"masks": False}, "masks: pretrained True"),
        ({"vision_dim": 7}, "vision_dim: pretrained 20, this model 7"),
    ):
        with pytest.raises(ConfigError, match="does not fit this model") as err:
            build_model({**section, **change, "init_from": str(best)}, VALUE)
        assert message in str(err.value)


def replace_dims(item: MultimodalItem) -> MultimodalItem:
    """The item with 20 vision features (the SynMOSI width the pretraining run saw)."""
    return replace(item, vision=np.resize(item.vision, (item.vision.shape[0], 20)).astype(np.float32))
