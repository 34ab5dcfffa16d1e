"""The multimodal task end to end: train from a config on clips in the safe format, select on validation, save,
reload through `sentimentkit.load`, predict on clips and .npz files, evaluate and sweep robustness from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import sentimentkit
from sentimentkit.cli import app
from sentimentkit.multimodal.npz import save_examples
from sentimentkit.tasks.multimodal import MultimodalRegression, mosi_text, value_prediction
from sentimentkit.training.experiment import load_experiment, train
from sentimentkit.types import MultimodalExample

runner = CliRunner()
WORDS = ["great", "awful", "fine", "boring", "lovely", "bad"]


def clips(n: int, seed: int, dims: tuple[int, int] = (5, 20)) -> list[MultimodalExample]:
    """Clips whose label is carried by the audio's first channel (and a word), lengths varying per clip."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = float(rng.uniform(-3, 3))
        audio = rng.normal(0, 0.1, (int(rng.integers(3, 30)), dims[0])).astype(np.float32)
        audio[:, 0] += label / 3
        vision = rng.normal(0, 0.1, (int(rng.integers(0, 40)), dims[1])).astype(np.float32)
        text = f"it was {WORDS[i % len(WORDS)]} today"
        out.append(MultimodalExample(text, audio, vision, label=label, id=f"clip{seed}_{i}"))
    return out


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    for split, n, seed in (("train", 48, 1), ("valid", 16, 2), ("test", 16, 3)):
        save_examples(clips(n, seed), folder / f"{split}.npz")
    return folder


def _config(tmp_path: Path, backbone: str, data: Path, model: str, extra: str = "") -> Path:
    config = tmp_path / f"{model}.yaml"
    config.write_text(
        f"model: {{type: {model}, backbone: {backbone}{extra}}}\n"
        f"data: {{train: {data}, max_length: 16}}\n"
        "train: {epochs: 3, batch_size: 8, lr: 0.003, metric: mae, patience: null, warmup_ratio: 0.0}\n"
        f"output: {tmp_path}/run-{model}\n"
    )
    return config


@pytest.mark.parametrize("model", ["almt", "text-regressor"])
def test_train_select_reload_and_predict(tiny_backbone, tmp_path, data_folder, model):
    result = train(load_experiment(_config(tmp_path, tiny_backbone, data_folder, model)), progress=False)
    assert result.best_step > 0 and np.isfinite(result.best_metric)
    best = tmp_path / f"run-{model}" / "best"
    manifest = json.loads((best / "config.json").read_text())
    assert manifest["task"] == "multimodal-regression.v1"
    assert manifest["model"]["audio_dim"] == 5 and manifest["model"]["vision_dim"] == 20  # fixed by the data

    pipeline = sentimentkit.load(str(best))
    test = clips(16, 3)
    one = pipeline(test[0])
    assert len(one) == 1 and one[0].error is None and -3 <= one[0].value <= 3
    assert one[0].polarity in {"negative", "neutral", "positive"} and one[0].score == pytest.approx(one[0].value / 3)
    from_file = pipeline(str(data_folder / "test.npz"))
    assert [p.id for p in from_file] == [x.id for x in test]
    assert from_file[0].value == pytest.approx(one[0].value, abs=1e-5)  # alone or in a batch: the same value

    # every input gets exactly one output, bad ones an error that says what is wrong
    blank = MultimodalExample(" ", test[0].audio, test[0].vision, id="blank")
    other = clips(1, 9, dims=(33, 709))[0]
    mixed = pipeline([test[1], blank, other, test[2]])
    assert [p.error is None for p in mixed] == [True, False, False, True]
    assert "blank" in mixed[1].error and "(33, 709)" in mixed[2].error and "(5, 20)" in mixed[2].error
    with pytest.raises(ValueError, match="sentimentkit features"):
        pipeline("clip.mp4")

    evaluated = runner.invoke(app, ["evaluate", str(best), str(data_folder), "--split", "test"])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)
    assert set(metrics) >= {"mae", "corr", "acc7", "acc5", "has0_acc2", "non0_acc2", "has0_f1", "non0_f1"}
    assert metrics["n"] == 16


def test_the_audio_signal_is_learned(tiny_backbone, tmp_path, data_folder):
    """A model that reads the audio beats predicting the training mean on held-out clips (the data is learnable)."""
    config = _config(tmp_path, tiny_backbone, data_folder, "msrn")
    train(load_experiment(config, ["train.epochs=8"]), progress=False)
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "run-msrn" / "best"), str(data_folder)])
    assert evaluated.exit_code == 0, evaluated.output
    labels = np.array([x.label for x in clips(16, 3)])
    constant = np.abs(labels - np.mean([x.label for x in clips(48, 1)])).mean()
    assert json.loads(evaluated.stdout)["mae"] < 0.8 * constant


def test_robustness_sweep_writes_a_table_and_plots(tiny_backbone, tmp_path, data_folder):
    train(load_experiment(_config(tmp_path, tiny_backbone, data_folder, "text-regressor")), progress=False)
    best = str(tmp_path / "run-text-regressor" / "best")
    report = tmp_path / "report"
    args = ["evaluate", best, str(data_folder), "--robustness", "--protocol", "av-frames", "--protocol", "drop-av"]
    result = runner.invoke(app, [*args, "--mask-seed", "1", "--compare", best, "--report-dir", str(report)])
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["robustness"]
    assert all(Path(f).exists() for f in files.values())
    assert any(f.endswith(".png") for f in files.values()) and any(f.endswith(".md") for f in files.values())
    bad = runner.invoke(app, [*args[:4], "--protocol", "typo", "--report-dir", str(report)])
    assert bad.exit_code == 2 and "typo" in bad.stderr


def test_a_model_section_with_unknown_keys_fails_naming_them(tiny_backbone, tmp_path, data_folder):
    config = _config(tmp_path, tiny_backbone, data_folder, "almt", ", hiden: 3")
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 2 and "model.hiden" in result.stderr


def test_unknown_sources_name_what_is_accepted(tmp_path):
    task = MultimodalRegression()
    with pytest.raises(FileNotFoundError, match="synmosi"):
        task.examples("no-such-dataset", "train")
    with pytest.raises(ValueError, match="split"):
        task.examples("mosi-text", "dev-test")


def test_value_predictions_are_clipped_with_a_neutral_band():
    example = clips(1, 0)[0]
    assert value_prediction(example, 7.0).value == 3.0
    assert value_prediction(example, 0.3).polarity == "neutral"
    assert value_prediction(example, -0.6).polarity == "negative"
    assert value_prediction(example, 0.5).polarity == "positive"


def test_mosi_text_is_the_real_transcripts_without_audio_or_vision(data_dir):
    sizes = [len(mosi_text(s, str(data_dir))) for s in ("train", "validation", "test")]
    assert sizes == [1284, 229, 686]
    first = mosi_text("test", str(data_dir))[0]
    assert first.audio.shape == (0, 0) and first.vision.shape == (0, 0) and -3 <= first.label <= 3


def test_a_users_own_clips_train_and_score_end_to_end(tiny_backbone, tmp_path):
    """A folder of the user's clips with an MMSA label.csv trains a model; a new clip goes through `features` and is
    scored by `load`: the whole path a user takes, on clips the test generates (tones and frames, PyAV-encoded)."""
    from tests.multimodal.test_features import write_mp4, write_openface, write_wav

    root = tmp_path / "my-clips"
    rows = ["video_id,clip_id,text,label,annotation,mode"]
    for i, (mode, video) in enumerate([("train", "v1")] * 4 + [("valid", "v2")] * 2 + [("test", "v3")] * 2):
        label = [2.0, -1.0][i % 2]
        write_wav(root / "Raw" / video / f"{i}.wav", seconds=0.3 + 0.1 * (i % 3))
        rows.append(f"{video},{i},{WORDS[i % 2]} clip,{label},x,{mode}")
    write_mp4(root / "Raw" / "v1" / "9.mp4", seconds=0.5)
    write_openface(root / "OpenFace" / "v1" / "9.csv", rows=12)
    rows.append("v1,9,a filmed clip,1.5,Positive,train")
    (root / "label.csv").write_text("\n".join(rows) + "\n")

    config = _config(tmp_path, tiny_backbone, root, "msrn")
    train(load_experiment(config, ["train.epochs=2"]), progress=False)
    best = tmp_path / "run-msrn" / "best"
    assert json.loads((best / "config.json").read_text())["model"]["audio_dim"] == 33  # librosa audio33
    assert (root / "features" / "train.npz").exists()  # extracted once, cached

    new = write_mp4(tmp_path / "new.mp4", seconds=0.6)
    face = str(write_openface(tmp_path / "new.csv"))
    out = str(tmp_path / "new.npz")
    made = runner.invoke(app, ["features", str(new), "--transcript", "great clip", "--openface", face, "-o", out])
    assert made.exit_code == 0, made.output
    (prediction,) = sentimentkit.load(str(best))(str(tmp_path / "new.npz"))
    assert prediction.error is None and -3 <= prediction.value <= 3 and prediction.text == "great clip"
