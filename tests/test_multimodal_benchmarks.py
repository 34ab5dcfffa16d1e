"""The pure pieces of the multimodal benchmark scripts on fake arrays: verdicts, gain retention, the H2 check, slopes
with bootstrap CIs, run discovery with missing-run reports, the prediction cache, and the efficiency counters."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    """Import a benchmark script by path (it imports its siblings `common` and `multimodal` by name)."""
    before = set(sys.modules)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
        for sibling in ("common", "multimodal"):
            if sibling not in before:
                sys.modules.pop(sibling, None)
    return module


@pytest.fixture(scope="module")
def analysis():
    return _load("multimodal_analysis")


@pytest.fixture(scope="module")
def efficiency():
    return _load("multimodal_efficiency")


@pytest.fixture
def truth() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.round(rng.uniform(-3, 3, 200), 1) + 0.05  # no zero labels: non0 metrics use every clip


# --- verdicts and gains ------------------------------------------------------------------------------------------


def test_verdict_reads_the_ci_of_reference_minus_model_by_the_metric_direction(analysis):
    assert analysis.verdict("mae", -0.05, -0.01) == "reference better"  # lower MAE for the reference
    assert analysis.verdict("mae", 0.01, 0.03) == "reference worse"
    assert analysis.verdict("non0_acc2", 0.01, 0.02) == "reference better"
    assert analysis.verdict("non0_acc2", -0.02, -0.01) == "reference worse"
    assert analysis.verdict("acc7", -0.01, 0.02) == "no clear difference"
    assert analysis.verdict("mae", -0.01, 0.0) == "no clear difference"  # a CI touching 0 does not exclude it


def test_signed_gain_is_positive_when_the_model_beats_the_floor(analysis):
    assert analysis.signed_gain("mae", 0.6, 0.8) == pytest.approx(0.2)
    assert analysis.signed_gain("non0_acc2", 0.75, 0.70) == pytest.approx(0.05)
    assert analysis.signed_gain("mae", 0.9, 0.8) < 0


def test_gain_retention_of_exact_offsets_is_exact(analysis, truth):
    text = truth + 1.0  # MAE 1.0 whatever the clip draw
    clean = truth - 0.5  # MAE 0.5: a gain of 0.5
    half = truth + 0.75  # MAE 0.75: a gain of 0.25, half of it kept
    kept = analysis.gain_retention(half[None], text[None], clean[None], text[None], truth, "mae", n_boot=200)
    assert kept["gain_0"] == pytest.approx(0.5) and kept["gain_r"] == pytest.approx(0.25)
    assert kept["retention"] == pytest.approx(0.5)
    assert kept["lo"] == pytest.approx(0.5) and kept["hi"] == pytest.approx(0.5)


def test_gain_retention_averages_runs_and_its_ci_brackets_the_estimate(analysis, truth):
    rng = np.random.default_rng(1)
    text = truth + rng.normal(0, 1.0, (3, truth.size))
    clean = truth + rng.normal(0, 0.5, (3, truth.size))
    missing = truth + rng.normal(0, 0.7, (3, truth.size))
    kept = analysis.gain_retention(missing, text, clean, text, truth, "mae", n_boot=300)
    assert 0 < kept["retention"] < 1
    assert kept["lo"] < kept["retention"] < kept["hi"]


def test_no_clean_gain_means_no_retention(analysis, truth):
    worse = truth + 2.0
    text = truth + 1.0
    kept = analysis.gain_retention(worse[None], text[None], worse[None], text[None], truth, "mae", n_boot=50)
    assert math.isnan(kept["retention"]) and math.isnan(kept["lo"]) and kept["gain_0"] == pytest.approx(-1.0)


def test_retention_for_accuracies_uses_model_minus_floor(analysis):
    draws = np.full(4, 1.0)
    kept = analysis.retention(
        (0.70, 0.70 * draws), (0.60, 0.60 * draws), (0.80, 0.80 * draws), (0.60, 0.60 * draws), "non0_acc2"
    )
    assert kept["retention"] == pytest.approx(0.5) and kept["lo"] == pytest.approx(0.5)


# --- the H2 check ------------------------------------------------------------------------------------------------


def _summary(protocol: str, rate: float, mae: float, lo: float | None = None, hi: float | None = None) -> dict:
    row = {"protocol": protocol, "rate": rate, "mae": mae}
    if lo is not None:
        row |= {"mae_lo": lo, "mae_hi": hi}
    return row


def test_h2_holds_when_the_reference_leads_every_baseline_and_stays_above_the_floor(analysis):
    summaries = {
        "almt": [
            _summary("av-frames", 0.0, 0.70),
            _summary("av-frames", 0.5, 0.74),
            {"protocol": "av-frames", "rate": "mean"},
        ],
        "tfn": [_summary("av-frames", 0.0, 0.72), _summary("av-frames", 0.5, 0.80)],
        "text": [_summary("av-frames", 0.0, 0.76, 0.72, 0.80), _summary("av-frames", 0.5, 0.76, 0.72, 0.80)],
    }
    checks = analysis.h2_check(summaries, "almt", "text", ["tfn"], "mae")
    assert checks["av-frames"] == {"holds": True, "behind_baselines": [], "below_floor": []}


def test_h2_names_the_baseline_and_rate_it_loses_to_and_the_floor_it_falls_below(analysis):
    summaries = {
        "almt": [_summary("av-frames", 0.0, 0.70), _summary("av-frames", 0.5, 0.83), _summary("drop-av", 1.0, 0.75)],
        "tfn": [_summary("av-frames", 0.0, 0.72), _summary("av-frames", 0.5, 0.80), _summary("drop-av", 1.0, 0.79)],
        "text": [
            _summary("av-frames", 0.0, 0.76, 0.72, 0.80),
            _summary("av-frames", 0.5, 0.76, 0.72, 0.80),
            _summary("drop-av", 1.0, 0.76, 0.72, 0.80),
        ],
    }
    checks = analysis.h2_check(summaries, "almt", "text", ["tfn"], "mae")
    assert not checks["av-frames"]["holds"]
    assert checks["av-frames"]["behind_baselines"] == [("tfn", 0.5, 0.83, 0.80)]
    assert checks["av-frames"]["below_floor"] == [(0.5, 0.83, 0.80)]  # above the floor's upper MAE bound
    assert checks["drop-av"]["holds"]  # ahead of tfn (0.75 < 0.79) and below the floor's upper bound 0.80
    assert analysis.overall([c["holds"] for c in checks.values()]) == "holds partly"


def test_h2_floor_uses_the_lower_bound_for_accuracies(analysis):
    row = {"protocol": "noise", "rate": 5.0}
    summaries = {
        "almt": [row | {"non0_acc2": 0.71}],
        "text": [row | {"non0_acc2": 0.73, "non0_acc2_lo": 0.70, "non0_acc2_hi": 0.76}],
    }
    assert analysis.h2_check(summaries, "almt", "text", [], "non0_acc2")["noise"]["holds"]  # within the CI
    summaries["almt"] = [row | {"non0_acc2": 0.69}]
    assert analysis.h2_check(summaries, "almt", "text", [], "non0_acc2")["noise"]["below_floor"] == [(5.0, 0.69, 0.70)]


def test_overall(analysis):
    assert analysis.overall([True, True]) == "holds"
    assert analysis.overall([True, False]) == "holds partly"
    assert analysis.overall([False]) == "fails"
    assert analysis.overall([]) == "fails"


# --- slopes and improvements over eta ---------------------------------------------------------------------------


def test_least_squares_slope_of_a_line_and_of_each_draw(analysis):
    assert analysis.least_squares_slope([0, 1, 2, 4], np.array([1.0, 3.0, 5.0, 9.0])) == pytest.approx(2.0)
    draws = np.array([[0.0, 1.0, 2.0, 4.0], [0.0, -1.0, -2.0, -4.0]])
    assert analysis.least_squares_slope([0, 1, 2, 4], draws) == pytest.approx([1.0, -1.0])


def test_slope_ci_brackets_the_slope_and_excludes_zero_for_a_clear_trend(analysis):
    rng = np.random.default_rng(2)
    etas = [0, 0.5, 1, 2, 4]
    point = 0.02 * np.asarray(etas)
    draws = point + rng.normal(0, 0.005, (500, len(etas)))
    fit = analysis.slope_ci(etas, point, draws)
    assert fit["slope"] == pytest.approx(0.02)
    assert 0 < fit["lo"] < 0.02 < fit["hi"]
    flat = analysis.slope_ci(etas, np.zeros(5), rng.normal(0, 0.05, (500, 5)))
    assert flat["lo"] < 0 < flat["hi"]


def test_improvement_draws_pair_the_clips_across_etas(analysis, truth):
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.3, (2, truth.size))
    etas = [0, 1, 2]
    reference = [truth + noise for _ in etas]
    other = [truth + noise + 0.1 * eta for eta in etas]  # worse by a constant that grows with eta
    point, draws = analysis.improvement_draws(reference, other, truth, "mae", n_boot=100, seed=0)
    assert draws.shape == (100, 3)
    assert point[0] == pytest.approx(0.0, abs=1e-12) and point[1] > 0 and point[2] > point[1]
    assert analysis.slope_ci(etas, point, draws)["lo"] > 0


def test_clip_mean_ci_and_sensitivity(analysis):
    base = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]])
    altered = base + np.array([[0.1, -0.1, 0.3, 0.0], [0.3, -0.1, 0.1, 0.0]])
    per_clip = analysis.sensitivity_per_clip(base, altered)
    assert per_clip == pytest.approx([0.2, 0.1, 0.2, 0.0])
    ci = analysis.clip_mean_ci(per_clip, n_boot=200)
    assert ci["mean"] == pytest.approx(0.125) and ci["lo"] <= 0.125 <= ci["hi"]


def test_without_removes_a_generated_part_from_audio_and_vision(analysis):
    from sentimentkit.types import MultimodalExample

    audio, vision = np.ones((4, 5), np.float32), np.full((3, 20), 2.0, np.float32)
    parts = {
        "audio_signal": np.full((4, 5), 0.25, np.float32),
        "audio_nuisance": np.full((4, 5), 0.5, np.float32),
        "vision_signal": np.full((3, 20), 1.5, np.float32),
        "vision_nuisance": np.full((3, 20), 0.5, np.float32),
    }
    clip = MultimodalExample("fine", audio, vision, label=1.0, id="c1", parts=parts)
    clean = analysis.without(clip, "nuisance")
    assert clean.audio == pytest.approx(np.full((4, 5), 0.5)) and clean.vision == pytest.approx(np.full((3, 20), 1.5))
    assert clean.label == 1.0 and clip.audio[0, 0] == 1.0  # the original is unchanged
    with pytest.raises(SystemExit, match="c1.*audio_signal"):
        analysis.without(MultimodalExample("fine", audio, vision, id="c1"), "signal")


# --- runs on disk ------------------------------------------------------------------------------------------------


def test_find_runs_reports_missing_runs_with_the_command_that_trains_them(analysis, tmp_path):
    for model, seed in (("almt", 1), ("almt", 2), ("tfn", 2)):
        folder = analysis.run_folder(tmp_path, "synmosi:eta=2", model, seed)
        folder.mkdir(parents=True)
        np.save(folder / "test_values.npy", np.zeros(3))
    assert analysis.run_folder(tmp_path, "synmosi:eta=2", "tfn", 2) == tmp_path / "synmosi_eta=2" / "tfn" / "seed2"
    present, missing = analysis.find_runs(tmp_path, "synmosi:eta=2", ["almt", "tfn"], [1, 2], "test_values.npy")
    assert present == {"almt": [1, 2], "tfn": [2]}
    assert [(m, s) for m, s, _ in missing] == [("tfn", 1)]
    assert analysis.shared_seeds(present) == [2]
    lines = analysis.missing_report(missing, "synmosi:eta=2")
    assert str(tmp_path / "synmosi_eta=2" / "tfn" / "seed1" / "test_values.npy") in lines[1]
    assert lines[-1].endswith("--model tfn --dataset synmosi:eta=2 --seeds 1")
    assert analysis.missing_report([], "synmosi") == []


def test_load_values_refuses_predictions_of_another_test_set(analysis, tmp_path):
    np.save(tmp_path / "test_values.npy", np.arange(4.0))
    assert analysis.load_values(tmp_path, 4) == pytest.approx([0, 1, 2, 3])
    with pytest.raises(SystemExit, match="4 predictions for 5 test clips"):
        analysis.load_values(tmp_path, 5)


def test_cache_resumes_and_recomputes_for_other_settings_or_a_newer_model(analysis, tmp_path):
    (tmp_path / "best").mkdir()
    weights = tmp_path / "best" / "model.safetensors"
    weights.write_bytes(b"")
    os.utime(weights, (0, 0))
    calls = []

    def compute():
        calls.append(1)
        return [len(calls)]

    path = tmp_path / "robust_noise.json"
    assert analysis.cached(path, {"rates": [5.0]}, compute) == [1]
    assert analysis.cached(path, {"rates": [5.0]}, compute) == [1] and len(calls) == 1  # resumed
    assert analysis.cached(path, {"rates": [10.0]}, compute) == [2]  # other settings
    os.utime(weights, (path.stat().st_mtime + 10,) * 2)
    assert analysis.cached(path, {"rates": [10.0]}, compute) == [3]  # retrained since


# --- efficiency ----------------------------------------------------------------------------------------------------


def test_efficiency_counts_text_and_non_text_parts(efficiency, tiny_backbone):
    import torch

    from sentimentkit.encoders.text import load_tokenizer
    from sentimentkit.models import build_model
    from sentimentkit.tasks.multimodal import VALUE, MultimodalRegression
    from sentimentkit.types import MultimodalExample

    torch.manual_seed(0)
    model = build_model({"type": "msrn", "backbone": tiny_backbone, "audio_dim": 5, "vision_dim": 20}, VALUE).eval()
    counts = efficiency.parameter_counts(model)
    text = sum(p.numel() for m in efficiency.text_modules(model).values() for p in m.parameters())
    assert text > 0 and counts["total"] == counts["non_text"] + text
    assert counts["trainable"] == counts["non_text"]  # frozen text encoder
    assert sum(efficiency.module_counts(model).values()) == counts["non_text"]

    rng = np.random.default_rng(0)
    clips = [
        MultimodalExample(
            f"clip number {i} was fine",
            rng.normal(size=(6, 5)).astype(np.float32),
            rng.normal(size=(8, 20)).astype(np.float32),
            id=str(i),
        )
        for i in range(4)
    ]
    task = MultimodalRegression(VALUE, load_tokenizer(tiny_backbone), 16, (5, 20))
    items = task.encode(clips)
    with_text, without_text = efficiency.gflops_per_clip(model, task.collate(items))
    assert with_text > without_text > 0
    assert efficiency.clips_per_second(model, task, items) > 0
    efficiency.clear_text_memos(model)
    assert all(not m.memo for m in efficiency.text_modules(model).values())


def test_lstm_layers_are_counted_as_their_gate_matmuls(efficiency):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    lstm = torch.nn.LSTM(20, 16, num_layers=2, bidirectional=True, batch_first=True)
    with FlopCounterMode(
        display=False, custom_mapping={torch.ops.aten.mkldnn_rnn_layer: efficiency.rnn_layer_flops}
    ) as c:
        lstm(torch.randn(3, 7, 20))
    steps = 3 * 7
    per_direction = 2 * steps * 4 * 16 * (20 + 16) + 2 * steps * 4 * 16 * (2 * 16 + 16)  # layer 1 + layer 2
    assert c.get_total_flops() == 2 * per_direction


# --- committed seed records --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner():
    return _load("multimodal")


def test_a_seed_record_stands_in_for_a_lost_run_folder(analysis, runner, tmp_path, monkeypatch):
    records = tmp_path / "records"
    monkeypatch.setattr(analysis, "RECORDS", records)
    path = runner.record_path("synmosi:eta=2", "almt", 3, records)
    assert path == records / "synmosi_eta=2" / "almt" / "seed3.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"seed": 3, "test": {"mae": 0.9}, "test_values": [0.5, -1.0, 2.0]}')
    empty = runner.record_path("synmosi:eta=2", "almt", 4, records)
    empty.write_text('{"seed": 4, "test": {"mae": 0.9}, "test_values": null}')
    runs = tmp_path / "runs"
    present, missing = analysis.find_runs(runs, "synmosi:eta=2", ["almt"], [3, 4], "test_values.npy")
    assert present == {"almt": [3]}  # a record without predictions cannot be compared
    assert [(m, s) for m, s, _ in missing] == [("almt", 4)]
    folder = analysis.run_folder(runs, "synmosi:eta=2", "almt", 3)
    assert analysis.load_values(folder, 3, ("synmosi:eta=2", "almt", 3)) == pytest.approx([0.5, -1.0, 2.0])
    with pytest.raises(SystemExit, match="3 predictions for 4 test clips"):
        analysis.load_values(folder, 4, ("synmosi:eta=2", "almt", 3))
    # the run folder, where it exists, wins over the record
    folder.mkdir(parents=True)
    np.save(folder / "test_values.npy", np.zeros(3))
    assert analysis.load_values(folder, 3, ("synmosi:eta=2", "almt", 3)) == pytest.approx([0, 0, 0])


def test_a_recorded_seed_is_not_trained_again_and_a_scored_run_gets_recorded(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "SEEDS", tmp_path / "records")
    recorded = runner.record_path("synmosi", "tfn", 1)
    recorded.parent.mkdir(parents=True)
    recorded.write_text('{"seed": 1, "test": {"mae": 0.8}, "test_values": null}')
    out = tmp_path / "runs" / "seed1"
    row = runner.run_seed(Path("no-such-config.yaml"), "synmosi", 1, out, [], None, "tfn")
    assert row["test"] == {"mae": 0.8} and not out.exists()  # read from the record: nothing trained
    # a record without predictions is trained again when they are needed (here: the missing config says it tried)
    with pytest.raises(Exception, match="no-such-config"):
        runner.run_seed(Path("no-such-config.yaml"), "synmosi", 1, out, [], None, "tfn", need_values=True)
    # a run folder scored before records existed is recorded, predictions included
    scored = tmp_path / "runs" / "seed2"
    scored.mkdir(parents=True)
    (scored / "test_metrics.json").write_text('{"seed": 2, "test": {"mae": 0.7}, "best_step": 40}')
    np.save(scored / "test_values.npy", np.array([1.0, 2.0]))
    assert runner.run_seed(Path("no-such-config.yaml"), "synmosi", 2, scored, [], None, "tfn")["best_step"] == 40
    kept = json.loads(runner.record_path("synmosi", "tfn", 2).read_text())
    assert kept["test_values"] == [1.0, 2.0] and kept["test"] == {"mae": 0.7} and "command" in kept
