"""Robustness protocols on tiny encoded clips, and the sweep -> summary -> report path with a fake model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sentimentkit.data.encoding import MultimodalItem
from sentimentkit.multimodal.metrics import mmsa_regression
from sentimentkit.multimodal.robustness import PROTOCOLS, corrupt, public_rows, summarise, sweep, write_report

UNK = 100


def _items(n: int = 4, length: int = 12, t_a: int = 30, t_v: int = 40, seed: int = 0) -> list[MultimodalItem]:
    rng = np.random.default_rng(seed)
    return [
        MultimodalItem(
            input_ids=(101, *rng.integers(1000, 2000, length - 2).tolist(), 102),
            audio=(rng.normal(size=(t_a, 5)) + 1).astype(np.float32),  # + 1: no frame is all zeros
            vision=(rng.normal(size=(t_v, 20)) + 1).astype(np.float32),
            label=float(i) - 1.5,
        )
        for i in range(n)
    ]


def _same(a: MultimodalItem, b: MultimodalItem) -> bool:
    return a.input_ids == b.input_ids and np.array_equal(a.audio, b.audio) and np.array_equal(a.vision, b.vision)


def _copies(items: list[MultimodalItem]) -> list[tuple]:
    return [(x.input_ids, x.audio.copy(), x.vision.copy()) for x in items]


@pytest.mark.parametrize(("protocol", "clean"), [("lnln", 0.0), ("av-frames", 0.0), ("shift", 0), ("noise", np.inf)])
def test_clean_rate_leaves_items_identical(protocol, clean):
    items = _items()
    out = corrupt(items, protocol, clean, 1111, unk_id=UNK)
    assert all(_same(a, b) for a, b in zip(items, out, strict=True))
    assert all(a is not b and a.audio is not b.audio for a, b in zip(items, out, strict=True))


def test_rate_one_drops_everything_but_cls_and_sep():
    items = _items()
    for x in corrupt(items, "lnln", 1.0, 1111, unk_id=UNK):
        assert x.input_ids[0] == 101 and x.input_ids[-1] == 102
        assert set(x.input_ids[1:-1]) == {UNK}
        assert x.audio.shape == (30, 5) and not x.audio.any()  # frames zeroed, not removed
        assert x.vision.shape == (40, 20) and not x.vision.any()
    for x, original in zip(corrupt(items, "av-frames", 1.0, 1111, unk_id=UNK), items, strict=True):
        assert x.input_ids == original.input_ids  # text intact
        assert not x.audio.any() and not x.vision.any()


def test_masks_are_deterministic_per_seed_and_differ_across_seeds():
    items = _items()
    a = corrupt(items, "lnln", 0.5, 1111, unk_id=UNK)
    b = corrupt(items, "lnln", 0.5, 1111, unk_id=UNK)
    c = corrupt(items, "lnln", 0.5, 1112, unk_id=UNK)
    assert all(_same(x, y) for x, y in zip(a, b, strict=True))
    assert not all(_same(x, y) for x, y in zip(a, c, strict=True))
    # A clip's mask depends on its index, not on the rest of the list (batch composition).
    alone = corrupt(items[:1], "lnln", 0.5, 1111, unk_id=UNK)
    assert _same(alone[0], a[0])
    # Modalities draw from separate streams: audio and vision masks are not the same pattern.
    dropped_a = ~a[0].audio.any(axis=1)
    dropped_v = ~a[0].vision.any(axis=1)
    assert not np.array_equal(dropped_a, dropped_v[: len(dropped_a)])


def test_fraction_dropped_at_half_is_near_half():
    items = _items(n=20, length=200, t_a=500, t_v=500)
    out = corrupt(items, "lnln", 0.5, 1111, unk_id=UNK)
    frames = np.concatenate([~x.audio.any(axis=1) for x in out] + [~x.vision.any(axis=1) for x in out])
    tokens = np.concatenate([np.array(x.input_ids[1:-1]) == UNK for x in out])
    assert frames.size == 20_000 and abs(frames.mean() - 0.5) < 0.02
    assert abs(tokens.mean() - 0.5) < 0.03


def test_whole_modality_drops():
    items = _items()
    for protocol, audio_frames, vision_frames in (("drop-audio", 0, 40), ("drop-vision", 30, 0), ("drop-av", 0, 0)):
        for x, original in zip(corrupt(items, protocol, 1.0, 1111, unk_id=UNK), items, strict=True):
            assert x.audio.shape == (audio_frames, 5) and x.vision.shape == (vision_frames, 20)
            assert x.input_ids == original.input_ids and x.label == original.label


def test_noise_has_the_requested_snr_per_channel():
    rng = np.random.default_rng(0)
    scale = np.array([0.1, 1.0, 10.0, 3.0, 0.5], dtype=np.float32)
    audio = (rng.normal(size=(20_000, 5)) * scale).astype(np.float32)
    item = MultimodalItem(input_ids=(101, 102), audio=audio, vision=np.zeros((5, 20), np.float32))
    for snr in (20.0, 0.0):
        noisy = corrupt([item], "noise", snr, 1111, unk_id=UNK)[0]
        noise = (noisy.audio - audio).astype(np.float64)
        signal_power, noise_power = (audio.astype(np.float64) ** 2).mean(0), (noise**2).mean(0)
        assert np.allclose(10 * np.log10(signal_power / noise_power), snr, atol=0.2)  # 20k frames: ~0.05 dB sd
        assert not noisy.vision.any()  # an all-zero channel gets no noise


def test_shift_moves_frames_later():
    items = _items(n=1)
    x = corrupt(items, "shift", 5, 1111, unk_id=UNK)[0]
    assert x.audio.shape == items[0].audio.shape
    assert not x.audio[:5].any() and np.array_equal(x.audio[5:], items[0].audio[:-5])
    assert np.array_equal(x.vision[5:], items[0].vision[:-5])
    assert x.input_ids == items[0].input_ids
    gone = corrupt(items, "shift", 100, 1111, unk_id=UNK)[0]
    assert not gone.audio.any()
    with pytest.raises(ValueError, match="whole number"):
        corrupt(items, "shift", 2.5, 1111, unk_id=UNK)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_inputs_are_not_mutated(protocol):
    items = _items()
    before = _copies(items)
    corrupt(items, protocol, PROTOCOLS[protocol][-1], 1111, unk_id=UNK)
    for x, (ids, audio, vision) in zip(items, before, strict=True):
        assert x.input_ids == ids and np.array_equal(x.audio, audio) and np.array_equal(x.vision, vision)


def test_unknown_protocol_and_bad_rate():
    with pytest.raises(ValueError, match="unknown robustness protocol 'blur'"):
        corrupt(_items(), "blur", 0.1, 1, unk_id=UNK)
    with pytest.raises(ValueError, match=r"missing rate must be in \[0, 1\]"):
        corrupt(_items(), "lnln", 1.5, 1, unk_id=UNK)


def _fake_predict(calls: list[int]):
    """A 'model' whose output is the label hint carried in the first audio channel: missing frames hurt it."""

    def predict(items):
        calls.append(len(items))
        return np.array([x.audio[:, 0].mean() if len(x.audio) else 0.0 for x in items])

    return predict


def test_sweep_summarise_and_report(tmp_path):
    rng = np.random.default_rng(3)
    truth = np.round(rng.uniform(-3, 3, 30), 1)
    items = [
        MultimodalItem(
            input_ids=(101, 7, 8, 102),
            audio=np.full((50, 2), t, np.float32) + rng.normal(0, 0.1, (50, 2)).astype(np.float32),
            vision=np.ones((10, 3), np.float32),
            label=float(t),
        )
        for t in truth
    ]
    calls: list[int] = []
    protocols = ["lnln", "drop-audio", "noise"]
    rates = {"lnln": (0.0, 0.5, 0.9), "noise": (10.0,)}
    rows = sweep(_fake_predict(calls), items, truth, protocols, rates, mask_seeds=(1111, 1112), unk_id=UNK)
    assert [(r["protocol"], r["rate"], r["seed"]) for r in rows] == [
        ("lnln", 0.0, 1111), ("lnln", 0.0, 1112), ("lnln", 0.5, 1111), ("lnln", 0.5, 1112),
        ("lnln", 0.9, 1111), ("lnln", 0.9, 1112), ("drop-audio", 1.0, 1111), ("drop-audio", 1.0, 1112),
        ("noise", 10.0, 1111), ("noise", 10.0, 1112),
    ]  # fmt: skip
    # Clean once, lnln 0.5 and 0.9 per seed, drop-audio once (seedless), noise per seed.
    assert len(calls) == 1 + 4 + 1 + 2
    clean, heavy = rows[0], rows[4]
    assert clean["mae"] < 0.05 and clean["acc7"] >= 0.8
    assert heavy["mae"] > clean["mae"] * 5  # 90% of frames zeroed pulls the mean towards 0
    assert rows[6]["mae"] == pytest.approx(np.mean(np.abs(truth)))  # predict 0 without audio
    assert "_pred" not in public_rows(rows)[0] and public_rows(rows)[0]["mae"] == clean["mae"]

    summary = summarise(rows, n_boot=200)
    point = next(s for s in summary if s["protocol"] == "lnln" and s["rate"] == 0.5)
    assert point["seeds"] == 2
    assert point["mae"] == pytest.approx((rows[2]["mae"] + rows[3]["mae"]) / 2)
    assert point["mae_lo"] < point["mae"] < point["mae_hi"]
    mean_row = next(s for s in summary if s["protocol"] == "lnln" and s["rate"] == "mean")
    assert mean_row["mae"] == pytest.approx(np.mean([rows[i]["mae"] for i in range(6)]))

    other = [r | mmsa_regression(r["_pred"] * 0.5, truth) | {"_pred": r["_pred"] * 0.5} for r in rows]
    files = write_report({"fake": rows, "half": other}, tmp_path / "report", metric="mae")
    assert set(files) == {"json", "markdown", "plot:lnln", "plot:drop-audio", "plot:noise"}
    assert all(path.exists() and path.stat().st_size > 0 for path in files.values())
    assert files["plot:lnln"].read_bytes()[:4] == b"\x89PNG"
    table = files["markdown"].read_text().splitlines()
    assert table[2] == "| protocol | rate | fake | half |"
    row = next(line for line in table if line.startswith("| lnln | 0.5 |"))
    full = next(s for s in summarise(rows) if s["protocol"] == "lnln" and s["rate"] == 0.5)  # n_boot 1000
    assert f"{full['mae']:.2f} [{full['mae_lo']:.2f}, {full['mae_hi']:.2f}]" in row
    payload = json.loads(files["json"].read_text())
    assert payload["metric"] == "mae" and len(payload["models"]["fake"]["rows"]) == len(rows)
    assert payload["models"]["half"]["rows"][0]["mae"] == pytest.approx(np.mean(np.abs(rows[0]["_pred"] * 0.5 - truth)))
