"""Multimodal models: every registered name builds, predicts finite values with a loss on clips of mixed lengths
(one without vision), overfits 8 clips, saves and reloads to identical predictions, and ignores batch padding.
ALMT: the reference parameter counts, masks (clean) against attended padding (compat), the ablations; the frozen
text memo; the text floor on data without audio or vision."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from sentimentkit.config import ConfigError
from sentimentkit.data.collate import MultimodalBatch, pad_multimodal_batch
from sentimentkit.data.encoding import MultimodalItem
from sentimentkit.labels import LabelSet
from sentimentkit.models import MODELS, build_model, load_checkpoint, save_checkpoint

TASK = "multimodal-regression.v1"
VALUE = LabelSet.of(["value"])
LENGTHS = (24, 40, 30)  # L, T_a, T_v of the small models
DIMS = {"audio_dim": 5, "vision_dim": 7, "input_lengths": list(LENGTHS)}
SMALL_ALMT = {
    "hidden": 16,
    "tokens": 4,
    "heads": 2,
    "dim_head": 8,
    "mlp_dim": 16,
    "ahl_heads": 2,
    "ahl_dim_head": 8,
}
SMALL = {
    "almt": SMALL_ALMT,
    "almt-no-ahl": SMALL_ALMT,
    "almt-shuffled-guidance": SMALL_ALMT,
    "almt-single-scale": SMALL_ALMT,
    "tfn": {"text_hidden": 8, "audio_hidden": 4, "vision_hidden": 4, "text_out": 4, "post_fusion_dim": 8},
    "lmf": {"text_hidden": 8, "audio_hidden": 4, "vision_hidden": 4, "text_out": 4, "rank": 2},
    "lf-dnn": {"text_hidden": 16, "audio_hidden": 8, "vision_hidden": 8, "text_out": 16, "post_fusion_dim": 16},
    "ef-lstm": {"hidden": 16, "num_layers": 1},
    "mult": {"dim": 8, "heads": 2, "layers": 1},
    "msrn": {"hidden": 16, "blocks": 1},
    "text-regressor": {"hidden": 16},
}
NAMES = sorted(SMALL)
NO_DROPOUT = {
    "tfn": {"audio_dropout": 0.0, "vision_dropout": 0.0, "post_dropout": 0.0},
    "lmf": {"audio_dropout": 0.0, "vision_dropout": 0.0},
    "lf-dnn": {"audio_dropout": 0.0, "vision_dropout": 0.0, "post_dropout": 0.0},
    "ef-lstm": {"dropout": 0.0},
    "mult": {"attn_dropout_text": 0.0, "attn_dropout_audio": 0.0, "embed_dropout": 0.0, "out_dropout": 0.0},
    "msrn": {"dropout": 0.0},
    "text-regressor": {"dropout": 0.0},
}


def section(name: str, backbone: str, **changes) -> dict:
    return {"type": name, "backbone": backbone, **DIMS, **SMALL[name], **changes}


def small_model(name: str, backbone: str, seed: int = 0, **changes) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(section(name, backbone, **changes), VALUE)


def clips(n: int = 8, seed: int = 0, audio_dim: int = 5, vision_dim: int = 7) -> list[MultimodalItem]:
    """n clips of different lengths: clip 1 has no vision frames, clip 2 is longer than LENGTHS in audio."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        words = tuple(int(t) for t in rng.integers(1000, 3000, size=2 + i % 6))
        frames_a = 60 if i == 2 else int(rng.integers(3, 30))
        frames_v = 0 if i == 1 else int(rng.integers(2, 25))
        items.append(
            MultimodalItem(
                input_ids=(101, *words, 102),
                audio=rng.normal(size=(frames_a, audio_dim)).astype(np.float32),
                vision=rng.normal(size=(frames_v, vision_dim)).astype(np.float32),
                label=float(rng.uniform(-3, 3)),
            )
        )
    return items


def predict(model: nn.Module, batch: MultimodalBatch) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(batch.without_labels()).logits


def test_every_name_is_registered_for_the_multimodal_task():
    for name in NAMES:
        assert MODELS.get(name).task == TASK


@pytest.mark.parametrize("name", NAMES)
def test_forward_gives_finite_values_a_loss_and_finite_gradients(name, tiny_backbone):
    model = small_model(name, tiny_backbone).train()
    batch = pad_multimodal_batch(clips())
    assert not batch.vision_mask[1].any()  # a clip with no vision frames
    out = model(batch)
    assert out.logits.shape == (8, 1) and torch.isfinite(out.logits).all()
    assert out.loss is not None and out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model(batch.without_labels()).loss is None


@pytest.mark.parametrize("name", NAMES)
def test_prediction_does_not_depend_on_batch_padding(name, tiny_backbone):
    """Masks (and the models that pad to fixed lengths inside) make a clip's value independent of its batch."""
    model = small_model(name, tiny_backbone)
    items = clips()
    tight = predict(model, pad_multimodal_batch(items))
    padded = predict(model, pad_multimodal_batch(items, pad_to=(20, 45, 40)))  # longer than every clip but one
    alone = torch.cat([predict(model, pad_multimodal_batch([x])) for x in items[:3]])
    torch.testing.assert_close(padded, tight, atol=1e-5, rtol=1e-4)
    if name != "almt-shuffled-guidance":  # its evaluation guidance comes from the neighbouring clip
        torch.testing.assert_close(alone, tight[:3], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_overfits_eight_clips_then_saves_and_reloads_identically(name, tiny_backbone, tmp_path):
    torch.manual_seed(0)
    changes = {**NO_DROPOUT.get(name, {}), "loss": "mse"}  # L1's constant-size steps are slow at lr 1e-3
    model = small_model(name, tiny_backbone, **changes).train()
    batch = pad_multimodal_batch(clips())
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = model(batch).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if losses[-1] < losses[0] / 2:
            break
    assert losses[-1] < losses[0] / 2, f"{name}: loss {losses[0]:.3f} -> {losses[-1]:.3f} in 100 steps"

    meta = {"model": section(name, tiny_backbone, **changes), "labels": ["value"], "task": TASK}
    save_checkpoint(model, tmp_path, meta)
    reloaded, manifest = load_checkpoint(tmp_path)
    assert manifest.task == TASK and not reloaded.training
    torch.testing.assert_close(predict(reloaded, batch), predict(model, batch), atol=0, rtol=0)


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_trained_text_encoder_is_saved_and_reloaded(mode, tiny_backbone, tmp_path):
    model = small_model("text-regressor", tiny_backbone, text_encoder=mode, lora_r=2)
    trained = [n for n, p in model.named_parameters() if p.requires_grad and n.startswith("text.")]
    assert trained  # the encoder (or its adapters) train in this mode
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_b" in name:
                param.normal_(0, 0.5)
    batch = pad_multimodal_batch(clips())
    meta = {"model": section("text-regressor", tiny_backbone, text_encoder=mode, lora_r=2), "labels": ["value"]}
    save_checkpoint(model, tmp_path, {**meta, "task": TASK})
    reloaded, _ = load_checkpoint(tmp_path)
    torch.testing.assert_close(predict(reloaded, batch), predict(model, batch), atol=0, rtol=0)


# --- ALMT -----------------------------------------------------------------------------------------------------


class StandInText(nn.Module):
    """A text encoder stand-in of the reference's BERT width (768): no parameters of its own."""

    hidden_size = 768

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*input_ids.shape, self.hidden_size)


def test_almt_compat_has_the_reference_parameter_counts():
    """MOSI settings, text width 768, input lengths (50, 375, 500): 2,603,649 non-text parameters (spec 1.1)."""
    from sentimentkit.models.multimodal.almt import ALMT, REFERENCE_MOSI_PARAMETERS, ALMTConfig
    from sentimentkit.models.multimodal.common import count_parameters

    model = ALMT(ALMTConfig(compat=True, input_lengths=(50, 375, 500)), StandInText())
    counts = {name: count_parameters(getattr(model, name)) for name in ("proj_l", "proj_a", "proj_v")}
    counts |= {name: count_parameters(getattr(model, name)) for name in ("l_encoder", "ahl", "fusion", "head")}
    assert counts == REFERENCE_MOSI_PARAMETERS
    assert count_parameters(model) == 2_603_649
    assert torch.equal(model.h_hyper, torch.ones(1, 8, 128))
    # the paper-era count: positional embeddings sized 50 + 8 for audio and vision (spec 1.4.1)
    paper = ALMT(ALMTConfig(compat=True, truncate_av_to=50), StandInText())
    assert count_parameters(paper) == 2_504_449
    # the clean variant has no LayerNorm on the AHL residual
    clean = ALMT(ALMTConfig(compat=False), StandInText())
    assert count_parameters(model) - count_parameters(clean) == 3 * 2 * 128
    assert not torch.equal(clean.h_hyper, torch.ones(1, 8, 128))


def test_baselines_have_mmsa_parameter_counts():
    """MOSI settings with text width 768 (spec 5.1-5.4): MMSA's counts, plus the BatchNorm running statistics that
    our checkpoints carry as parameters (A/V subnets: 2 x (5 + 20); EF-LSTM's time BatchNorm: 2 x 50)."""
    from sentimentkit.models.multimodal import fusion, mult
    from sentimentkit.models.multimodal.common import count_parameters

    counts = {
        name: count_parameters(cls(config_cls(), StandInText()))
        for name, (config_cls, cls) in fusion.MODELS_BY_NAME.items()
    }
    assert counts == {"tfn": 9_497_043 + 50, "lmf": 505_071 + 50, "lf-dnn": 597_171 + 50, "ef-lstm": 885_605 + 100}
    assert count_parameters(mult.MulT(mult.MulTConfig(), StandInText())) == 2_571_551


def transplant(source: nn.Module, target: nn.Module) -> None:
    """Copy source's parameters into target, positional embeddings on their common prefix."""
    state = target.state_dict()
    with torch.no_grad():
        for key, value in source.state_dict().items():
            if state[key].shape == value.shape:
                state[key].copy_(value)
            else:
                state[key][:, : value.shape[1]].copy_(value[:, : state[key].shape[1]])
    target.load_state_dict(state)


@pytest.mark.parametrize("compat", [False, True])
def test_almt_clean_masks_padding_and_compat_attends_to_it(compat, tiny_backbone):
    """The same weights with longer fixed A/V lengths: clean ALMT gives the same values (masks), compat ALMT
    does not (the reference pads to the fixed lengths and attends to the padding)."""
    short = small_model("almt", tiny_backbone, compat=compat)
    longer = small_model("almt", tiny_backbone, seed=1, compat=compat, input_lengths=[LENGTHS[0], 80, 70])
    transplant(short, longer)
    batch = pad_multimodal_batch([x for i, x in enumerate(clips()) if i != 2])  # clip 2 is cut to 40 frames
    same = torch.allclose(predict(short, batch), predict(longer, batch), atol=1e-5, rtol=1e-4)
    assert same is not compat


def test_almt_compat_pads_inside_so_batch_padding_changes_nothing(tiny_backbone):
    """compat pads every clip to the fixed lengths itself, and its frozen text memo keeps the encoder's states at
    the padding positions (attended as in the reference): (L, H) per clip."""
    model = small_model("almt", tiny_backbone, compat=True)
    items = clips()
    tight = predict(model, pad_multimodal_batch(items))
    torch.testing.assert_close(predict(model, pad_multimodal_batch(items, pad_to=(20, 45, 40))), tight)
    assert {value.shape[0] for value in model.text.memo.values()} == {LENGTHS[0]}
    assert all(value[-1].abs().sum() > 0 for value in model.text.memo.values())  # a [PAD] position's state


def test_almt_truncates_audio_and_vision_from_the_first_nonzero_frame():
    from sentimentkit.models.multimodal.common import from_first_nonzero

    x = torch.zeros(1, 6, 2)
    x[0, 2:, 0] = torch.arange(1.0, 5.0)  # frames 0, 1 are all zeros
    values, mask = from_first_nonzero(x, torch.tensor([[True] * 5 + [False]]), 3)
    assert values[0, :, 0].tolist() == [1.0, 2.0, 3.0] and mask.tolist() == [[True, True, True]]
    values, mask = from_first_nonzero(x, torch.tensor([[True] * 5 + [False]]), 5)
    assert values[0, :, 0].tolist() == [1.0, 2.0, 3.0, 0.0, 0.0] and mask.tolist() == [[True, True, True, False, False]]


def test_shuffled_guidance_is_deterministic_in_eval_and_uses_other_clips_text(tiny_backbone):
    shuffled = small_model("almt-shuffled-guidance", tiny_backbone)
    plain = small_model("almt", tiny_backbone, seed=3)
    plain.load_state_dict(shuffled.state_dict())  # same weights: only the guidance differs
    batch = pad_multimodal_batch(clips())
    first, second = predict(shuffled, batch), predict(shuffled, batch)
    assert torch.equal(first, second)
    assert not torch.allclose(first, predict(plain, batch))
    one = pad_multimodal_batch(clips()[:1])  # a batch of one clip: the permutation is the identity
    torch.testing.assert_close(predict(shuffled, one), predict(plain, one))


@pytest.mark.parametrize("name", ["almt-no-ahl", "almt-shuffled-guidance"])
def test_ablations_lose_the_text_unless_language_is_in_the_fusion(name, tiny_backbone):
    """In the reference, a clip's text reaches the output only through the AHL queries: without AHL (or with another
    clip's guidance) a clip's prediction does not depend on its own words at all. language_in_fusion restores it."""
    items = clips()
    edited = [replace(items[0], input_ids=(101, 2204, 2307, 102)), *items[1:]]  # clip 0 says other words
    reference = small_model(name, tiny_backbone)
    before, after = predict(reference, pad_multimodal_batch(items)), predict(reference, pad_multimodal_batch(edited))
    torch.testing.assert_close(before[0], after[0], atol=0, rtol=0)  # clip 0's own words change nothing
    if name == "almt-shuffled-guidance":
        assert not torch.allclose(before[-1], after[-1])  # they guide the last clip instead (the roll by one)
    fair = small_model(name, tiny_backbone, language_in_fusion=True)
    before, after = predict(fair, pad_multimodal_batch(items)), predict(fair, pad_multimodal_batch(edited))
    assert not torch.allclose(before[0], after[0])


def test_almt_ablations_differ_in_structure(tiny_backbone):
    no_ahl = small_model("almt-no-ahl", tiny_backbone)
    assert no_ahl.ahl is None and no_ahl.h_hyper is None
    assert small_model("almt-single-scale", tiny_backbone).config.variant == "single-scale"
    with pytest.raises(ConfigError, match="variant"):
        build_model(section("almt-no-ahl", tiny_backbone, variant="full"), VALUE)


# --- shared parts -----------------------------------------------------------------------------------------------


def test_frozen_text_is_memoised_per_clip(tiny_backbone):
    model = small_model("text-regressor", tiny_backbone).train()
    calls = []
    model.text.encoder.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    items = clips()
    batch = pad_multimodal_batch(items)
    first = model.text(batch.input_ids, batch.attention_mask)
    assert calls == [8] and len(model.text.memo) == 8
    assert not model.text.encoder.training  # frozen features: eval mode although the model trains
    again = model.text(batch.input_ids, batch.attention_mask)
    assert calls == [8]  # every clip came from the memo
    torch.testing.assert_close(again, first, atol=0, rtol=0)
    mixed = pad_multimodal_batch([*items[:3], *clips(2, seed=9)])
    model.text(mixed.input_ids, mixed.attention_mask)
    assert calls == [8, 2]  # only the two new clips
    direct, _ = model.text.encoder(batch.input_ids, batch.attention_mask)
    mask = batch.attention_mask.bool()
    torch.testing.assert_close(first[mask], direct[mask], atol=1e-5, rtol=1e-4)
    assert len(model.text.memo) == 10 and not any("memo" in key for key in model.state_dict())
    model.text.memo_limit = 10  # full: new clips are encoded on every call and not kept
    model.text(*pad_one(clips(1, seed=5)))
    model.text(*pad_one(clips(1, seed=5)))
    assert calls == [8, 2, 8, 1, 1] and len(model.text.memo) == 10  # the third call: the direct one above


def pad_one(items: list[MultimodalItem]) -> tuple[torch.Tensor, torch.Tensor]:
    batch = pad_multimodal_batch(items)
    return batch.input_ids, batch.attention_mask


def test_text_regressor_ignores_missing_audio_and_vision(tiny_backbone):
    model = small_model("text-regressor", tiny_backbone, audio_dim=0, vision_dim=0)  # as the task sets for mosi-text
    items = [replace_av(x) for x in clips(4)]
    batch = pad_multimodal_batch(items)
    assert batch.audio.shape[-1] == 0 and not batch.audio_mask.any()
    value = predict(model, batch)
    assert value.shape == (4, 1) and torch.isfinite(value).all()


def replace_av(item: MultimodalItem) -> MultimodalItem:
    empty = np.zeros((0, 0), dtype=np.float32)
    return MultimodalItem(item.input_ids, empty, empty, item.label)


def test_config_errors_name_the_key(tiny_backbone):
    with pytest.raises(ConfigError, match="text_encoder"):
        build_model(section("msrn", tiny_backbone, text_encoder="bitfit"), VALUE)
    with pytest.raises(ConfigError, match="loss"):
        build_model(section("tfn", tiny_backbone, loss="huber"), VALUE)
    with pytest.raises(ConfigError, match="input_lengths"):
        build_model(section("mult", tiny_backbone, input_lengths=[50, 375]), VALUE)
    with pytest.raises(ConfigError, match="text-regressor"):
        build_model(section("tfn", tiny_backbone, audio_dim=0, vision_dim=0), VALUE)
    with pytest.raises(ValueError, match="one value"):
        build_model(section("lmf", tiny_backbone), LabelSet.of(["negative", "positive"]))


def test_loss_defaults_follow_the_references():
    from sentimentkit.models.base import model_config

    assert model_config({"type": "almt"}).loss == "mse"
    assert {model_config({"type": n}).loss for n in ("tfn", "lmf", "lf-dnn", "ef-lstm", "mult", "msrn")} == {"l1"}
    assert replace(model_config({"type": "almt"}), loss="l1").loss == "l1"


def test_every_mm_config_validates():
    """configs/mm/*.yaml: one per registered name (plus almt-compat, mosi-text and skesl-mm), each model section
    valid."""
    from pathlib import Path

    from sentimentkit.config import load_config
    from sentimentkit.models.base import model_config

    folder = Path(__file__).resolve().parents[2] / "configs" / "mm"
    configs = {path.stem: load_config(path) for path in sorted(folder.glob("*.yaml"))}
    assert set(configs) == {*NAMES, "almt-compat", "mosi-text", "skesl-mm"}
    for name, config in configs.items():
        model = model_config(config.model)
        assert config.train.metric == "mae" and config.output == f"runs/mm/{name}/seed{{seed}}"
        assert model.type == {"almt-compat": "almt", "mosi-text": "text-regressor", "skesl-mm": "skesl-ft"}.get(
            name, name
        )
    assert model_config(configs["almt-compat"].model).compat
    assert model_config(configs["mosi-text"].model).text_encoder == "full"
    assert configs["mosi-text"].data.train == "mosi-text"
