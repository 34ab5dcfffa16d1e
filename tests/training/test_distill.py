"""Distillation: soft targets (gold mixed with the teacher, the teacher alone on unlabelled texts), a student cut to
fewer layers and started from the teacher's, the teacher's labels cached in the run folder, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.labels import IGNORE_INDEX, SENTIMENT5
from sentimentkit.models import build_model
from sentimentkit.training.distill import TEACHER_FILE, distill, init_from_teacher, soften, targets
from sentimentkit.training.experiment import load_experiment

runner = CliRunner()


def test_targets_mix_gold_and_teacher_and_soften_flattens():
    teacher = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)
    out = targets([1, IGNORE_INDEX], teacher, alpha=0.5)
    np.testing.assert_allclose(out[0], [0.35, 0.6, 0.05], atol=1e-6)
    np.testing.assert_allclose(out[1], teacher[1], atol=1e-6)  # unlabelled: the teacher alone
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(soften(teacher, 1.0), teacher, atol=1e-6)
    flat = soften(teacher, 4.0)
    assert flat[0].max() < teacher[0].max() and flat[0].argmax() == 0
    with pytest.raises(ValueError, match="alpha"):
        targets([0], teacher[:1], alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        soften(teacher, 0.0)


def test_student_starts_from_the_teachers_layers(tiny_backbone, tiny_model_dir):
    import sentimentkit

    torch.manual_seed(0)
    student = build_model({"type": "full-ft", "backbone": tiny_backbone, "keep_layers": [1]}, SENTIMENT5)
    assert len(student.encoder.model.encoder.layer) == 1
    assert init_from_teacher(student, str(tiny_model_dir)) == [1]
    teacher = sentimentkit.load(str(tiny_model_dir), merge_adapters=True)
    texts = ["a good film", "dull"]
    # the teacher with its first layer skipped is the student: compare through the teacher's own encoder
    teacher.model.encoder.model.encoder.layer = teacher.model.encoder.model.encoder.layer[1:]
    teacher_probs = [p.probabilities for p in teacher(texts)]
    student.eval()
    from sentimentkit.data.collate import pad_batch
    from sentimentkit.data.encoding import encode_texts

    batch = pad_batch(encode_texts(teacher.task.tokenizer, texts, 32))
    with torch.no_grad():
        probs = torch.softmax(student(batch.without_labels()).logits, -1)
    for row, expected in zip(probs.tolist(), teacher_probs, strict=True):
        np.testing.assert_allclose(row, [expected[n] for n in SENTIMENT5.names], atol=1e-5)
    with pytest.raises(ValueError, match="keep_layers"):
        build_model({"type": "full-ft", "backbone": tiny_backbone, "keep_layers": [2]}, SENTIMENT5)


def _student(tmp_path: Path, backbone: str) -> Path:
    data = tmp_path / "data.csv"
    names = SENTIMENT5.names
    data.write_text("text,label\n" + "".join(f"film {i} was {w},{names[i % 5]}\n" for i in range(20) for w in "ab"))
    config = tmp_path / "student.yaml"
    config.write_text(
        f"model: {{type: full-ft, backbone: {backbone}, keep_layers: [1]}}\n"
        f"data: {{train: {data}, validation: {data}, max_length: 16, labels: {list(names)}}}\n"
        "train: {epochs: 1, batch_size: 8, patience: null, seed: 1}\n"
        f"output: {tmp_path}/run\n"
    )
    return config


def test_distill_trains_a_student_on_soft_targets(tiny_backbone, tiny_model_dir, tmp_path):
    config = load_experiment(_student(tmp_path, tiny_backbone))
    result = distill(
        str(tiny_model_dir), config, unlabelled=["an unlabelled line", "  ", "another one"], progress=False
    )
    assert result.steps == 6  # (40 labelled + 2 unlabelled texts) / 8 per batch
    run = tmp_path / "run"
    cached = np.load(run / TEACHER_FILE)
    assert cached["probs"].shape == (42, 5)
    manifest = json.loads((run / "best" / "config.json").read_text())
    assert manifest["distilled_from"]["teacher"] == str(tiny_model_dir)
    assert manifest["distilled_from"]["unlabelled_texts"] == 2
    assert manifest["distilled_from"]["initialised_from_teacher_layers"] == [1]
    assert manifest["model"]["keep_layers"] == [1]
    weights = load_file(str(run / "best" / "model.safetensors"))
    assert not any(".layer.1." in k for k in weights)  # one layer kept
    import sentimentkit

    student = sentimentkit.load(str(run / "best"))  # loads and scores like any model
    assert student("fine")[0].label in SENTIMENT5.names


def test_teacher_with_other_labels_is_refused(tiny_backbone, tiny_model_dir, tmp_path):
    data = tmp_path / "pn.csv"
    data.write_text("text,label\n" + "".join(f"x {i},{'pos' if i % 2 else 'neg'}\n" for i in range(10)))
    config = tmp_path / "s.yaml"
    config.write_text(
        f"model: {{type: full-ft, backbone: {tiny_backbone}}}\n"
        f"data: {{train: {data}, validation: {data}, max_length: 16}}\n"
        f"train: {{epochs: 1, batch_size: 8, patience: null}}\noutput: {tmp_path}/run\n"
    )
    result = runner.invoke(app, ["distill", str(tiny_model_dir), "--student", str(config), "--no-progress"])
    assert result.exit_code == 2 and "the student's labels are ['neg', 'pos']" in result.output


def test_cli_distill_with_an_unlabelled_file(tiny_backbone, tiny_model_dir, tmp_path):
    config = _student(tmp_path, tiny_backbone)
    extra = tmp_path / "extra.txt"
    extra.write_bytes(b"one more text\n\nbad \xff line\nlast\n")
    args = ["distill", str(tiny_model_dir), "--student", str(config), "--unlabelled", str(extra), "--no-progress"]
    result = runner.invoke(app, [*args, "--alpha", "0.3", "--temperature", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["unlabelled_texts"] == 2 and "skipped 2 blank or unreadable records" in result.stderr
    result = runner.invoke(app, [*args, "--unlabelled-limit", "0"])
    assert result.exit_code == 2 and "--unlabelled-limit must be at least 1" in result.output


def test_teacher_cache_follows_the_teachers_files(tiny_model_dir, tmp_path):
    """The cache is keyed by the teacher's weights, not its name: a name that now means another model recomputes."""
    import shutil

    from safetensors.torch import save_file

    from sentimentkit.training.distill import teacher_probabilities

    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_model_dir, teacher)
    texts, names = ["a good film", "dull"], SENTIMENT5.names
    first = teacher_probabilities(str(teacher), texts, names, tmp_path / "run")
    np.savez(
        tmp_path / "run" / TEACHER_FILE, probs=first * 0, digest=np.load(tmp_path / "run" / TEACHER_FILE)["digest"]
    )
    assert teacher_probabilities(str(teacher), texts, names, tmp_path / "run").sum() == 0  # same files: cache read
    weights = load_file(str(teacher / "model.safetensors"))
    head = next(k for k in weights if k.startswith("head.") and k.endswith("bias"))
    weights[head] = weights[head] + torch.arange(len(names), dtype=weights[head].dtype)
    save_file(weights, str(teacher / "model.safetensors"))
    again = teacher_probabilities(str(teacher), texts, names, tmp_path / "run")
    np.testing.assert_allclose(again.sum(-1), 1.0, atol=1e-5)  # recomputed with the new head, not the cache
    assert not np.allclose(again, first, atol=1e-3)
