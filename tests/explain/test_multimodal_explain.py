"""Explanations of multimodal predictions: integrated gradients over words, audio frames and vision frames together
(complete up to the reported delta), ALMT's AHL attention carried to frames, the page/figure/JSON and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import sentimentkit
from sentimentkit.cli import app
from sentimentkit.multimodal.npz import save_examples
from sentimentkit.training.experiment import load_experiment, train
from tests.multimodal.test_task import clips

pytest.importorskip("captum", reason="explanations need the explain extra (captum)")

from sentimentkit.explain import ClipAttribution, explain, save_attributions

runner = CliRunner()


def _train(root: Path, backbone: str, model: str, epochs: int) -> Path:
    data = root / "clips"
    data.mkdir()
    for split, n, seed in (("train", 64, 1), ("valid", 16, 2)):
        save_examples(clips(n, seed), data / f"{split}.npz")
    config = root / f"{model}.yaml"
    config.write_text(
        f"model: {{type: {model}, backbone: {backbone}}}\n"
        f"data: {{train: {data}, max_length: 16}}\n"
        f"train: {{epochs: {epochs}, batch_size: 8, lr: 0.003, metric: mae, patience: null, warmup_ratio: 0.0}}\n"
        f"output: {root}/run\n"
    )
    train(load_experiment(config), progress=False)
    return root / "run" / "best"


@pytest.fixture(scope="module")
def almt(tiny_backbone, tmp_path_factory):
    return sentimentkit.load(str(_train(tmp_path_factory.mktemp("almt"), tiny_backbone, "almt", 4)))


@pytest.fixture(scope="module")
def msrn(tiny_backbone, tmp_path_factory):
    return sentimentkit.load(str(_train(tmp_path_factory.mktemp("msrn"), tiny_backbone, "msrn", 8)))


def test_attributions_cover_every_frame_and_add_up(almt):
    test = clips(3, 3)
    test.append(replace(test[0], vision=np.zeros((0, 20), np.float32), id="no-vision"))
    attributions = explain(almt, test, steps=32)
    assert [a.id for a in attributions] == [x.id for x in test]
    predicted = almt(test)
    for a, x, p in zip(attributions, test, predicted, strict=True):
        assert isinstance(a, ClipAttribution) and a.text == x.text
        assert len(a.audio.scores) == x.audio.shape[0] and len(a.vision.scores) == x.vision.shape[0]
        assert [w.word for w in a.words] == x.text.split()
        assert all(w.score is not None and x.text[w.start : w.end] == w.word for w in a.words)
        assert np.clip(a.value, -3, 3) == pytest.approx(p.value, abs=1e-4)  # the value the pipeline gives
        # completeness: text, audio and vision together account for value - baseline, up to the reported delta
        total = a.text_total + a.audio.total + a.vision.total
        assert total == pytest.approx(a.value - a.baseline_value + a.delta, abs=1e-4)
        assert abs(a.delta) < 0.05 * max(1.0, abs(a.value - a.baseline_value))
    # ALMT's own view: the AHL attention carried to the clip's frames, a distribution over them
    for a in attributions:
        assert a.audio.attention is not None and len(a.audio.attention) == len(a.audio.scores)
        assert sum(a.audio.attention) == pytest.approx(1.0) and min(a.audio.attention) >= 0
        assert a.ahl_audio_share is not None and len(a.ahl_audio_share) == 3
        assert all(0.0 <= s <= 1.0 for s in a.ahl_audio_share)
        assert all(w.attention is not None and w.attention >= 0 for w in a.words)
    assert attributions[-1].vision.scores == () and attributions[-1].vision.attention is None
    assert sum(attributions[0].vision.attention) == pytest.approx(1.0)


def test_frames_past_the_models_window_score_zero(almt):
    read = almt.model.lengths[1]  # the audio frames ALMT reads (its positional table); later ones are cut
    clip = clips(1, 4)[0]
    rng = np.random.default_rng(0)
    long = replace(clip, audio=rng.normal(0, 0.5, (read + 7, 5)).astype(np.float32))
    [a] = explain(almt, long, steps=8)
    assert len(a.audio.scores) == read + 7 and a.audio.read == read
    assert all(s == 0.0 for s in a.audio.scores[read:]) and any(s != 0.0 for s in a.audio.scores[:read])
    assert len(a.audio.attention) == read + 7 and sum(a.audio.attention[read:]) == 0.0
    assert sum(a.audio.attention) == pytest.approx(1.0)


def test_the_modality_that_carries_the_label_gets_the_attribution(msrn):
    """The clips' label is in the first audio channel; vision is noise: the audio frames must carry the attribution,
    and within audio, the first channel is what the attributions follow (frames where it is larger push harder)."""
    test = clips(8, 3)
    attributions = explain(msrn, test, steps=32)
    audio = sum(abs(a.audio.total) for a in attributions)
    vision = sum(abs(a.vision.total) for a in attributions)
    assert audio > 3 * vision
    assert all(a.audio.attention is None and a.ahl_audio_share is None for a in attributions)  # not an ALMT
    # clips with a larger label get a larger audio attribution (value - baseline follows the audio signal)
    labels = np.array([x.label for x in test])
    totals = np.array([a.audio.total for a in attributions])
    assert np.corrcoef(labels, totals)[0, 1] > 0.8


def test_page_figure_and_json(almt, tmp_path):
    test = clips(2, 5)
    attributions = explain(almt, test, steps=8)
    page = save_attributions(attributions, tmp_path / "clip.html").read_text()
    assert page.count('class="card"') == 2 and "AHL attention carried to frames" in page
    assert page.count('title="frame ') == 2 * sum(x.audio.shape[0] + x.vision.shape[0] for x in test)
    assert test[0].text.split()[2] in page
    png = save_attributions(attributions, tmp_path / "clip.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    rows = json.loads(save_attributions(attributions, tmp_path / "clip.json").read_text())
    assert [r["id"] for r in rows] == [x.id for x in test]
    assert set(rows[0]["modality_totals"]) == {"text", "audio", "vision"}
    assert len(rows[0]["audio"]["scores"]) == test[0].audio.shape[0]
    assert rows[0]["polarity"] in {"negative", "neutral", "positive"}


def test_bad_clips_are_refused_by_name(almt):
    blank = replace(clips(1, 3)[0], text="  ", id="silent-clip")
    with pytest.raises(ValueError, match="silent-clip: blank transcript"):
        explain(almt, blank)
    wrong = clips(1, 9, dims=(33, 709))[0]
    with pytest.raises(ValueError, match=r"\(33, 709\)"):
        explain(almt, wrong)
    with pytest.raises(ValueError, match="no aspect or target"):
        explain(almt, clips(1, 3)[0], target="positive")


def test_cli_explains_a_clip_file(almt, tmp_path):
    clip_file = tmp_path / "two.npz"
    save_examples(clips(2, 7), clip_file)
    model = str(almt.manifest.path)
    result = runner.invoke(app, ["explain", str(clip_file), "--model", model, "--steps", "8", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(lines) == 2 and all("modality_totals" in x for x in lines)
    shown = runner.invoke(app, ["explain", str(clip_file), "--model", model, "--steps", "8"])
    assert shown.exit_code == 0 and "audio frames: #" in shown.stdout and "completeness delta" in shown.stdout
    out = tmp_path / "why.html"
    written = runner.invoke(app, ["explain", str(clip_file), "--model", model, "--steps", "8", "-o", str(out)])
    assert written.exit_code == 0 and "What moved the sentiment value" in out.read_text()

    no_model = runner.invoke(app, ["explain", str(clip_file)])
    assert no_model.exit_code == 2 and "--model" in no_model.stderr
    text = runner.invoke(app, ["explain", "a plain sentence", "--model", model])
    assert text.exit_code == 2 and "clip file (.npz)" in text.stderr
    missing = runner.invoke(app, ["explain", str(tmp_path / "none.npz"), "--model", model])
    assert missing.exit_code == 2 and "none.npz" in missing.stderr
    aspect = runner.invoke(app, ["explain", str(clip_file), "--model", model, "-a", "it"])
    assert aspect.exit_code == 2 and "--aspect" in aspect.stderr
