"""The benchmark helpers that decide which results are kept: saved test scores are reused only when they
score the same model on the same split and sample."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

COMMON = Path(__file__).resolve().parents[1] / "benchmarks" / "common.py"


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("benchmarks_common", COMMON)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _saved(tmp_path: Path, scored: dict, model_age: float = -10.0) -> tuple[Path, Path]:
    best = tmp_path / "best" / "config.json"
    best.parent.mkdir()
    best.write_text("{}")
    metrics = tmp_path / "test_metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.9, "scored": scored}))
    stamp = metrics.stat().st_mtime
    os.utime(best, (stamp + model_age, stamp + model_age))
    return metrics, best


def test_saved_score_reused_for_the_same_split_and_sample(common, tmp_path):
    scored = {"dataset": "imdb", "split": "test", "test_subset": 5000}
    metrics, best = _saved(tmp_path, scored)
    assert common._saved_score(metrics, dict(scored), best)["accuracy"] == 0.9


@pytest.mark.parametrize("change", [{"test_subset": None}, {"test_subset": 1000}, {"dataset": "sst5"}])
def test_saved_score_recomputed_for_another_sample_or_dataset(common, tmp_path, change):
    scored = {"dataset": "imdb", "split": "test", "test_subset": 5000}
    metrics, best = _saved(tmp_path, scored)
    assert common._saved_score(metrics, {**scored, **change}, best) is None


def test_saved_score_recomputed_when_the_model_is_newer(common, tmp_path):
    scored = {"dataset": "imdb", "split": "test", "test_subset": None}
    metrics, best = _saved(tmp_path, scored, model_age=+10.0)
    assert common._saved_score(metrics, scored, best) is None


def test_saved_score_without_a_record_of_what_it_scored_is_recomputed(common, tmp_path):
    best = tmp_path / "config.json"
    best.write_text("{}")
    metrics = tmp_path / "test_metrics.json"
    metrics.write_text(json.dumps({"accuracy": 0.9}))  # written before scores recorded what they scored
    os.utime(best, (0, 0))
    assert common._saved_score(metrics, {"dataset": "imdb", "split": "test", "test_subset": None}, best) is None


def test_rows_replace_only_rows_with_the_same_settings(common, tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path)

    def row(accuracy: float, **settings) -> dict:
        return {"task": "t", "dataset": "imdb", "split": "test", "model": "full-ft", "accuracy": accuracy,
                "settings": {"seeds": [1], **settings}}  # fmt: skip

    common.write_rows("document", [row(0.1, train_subset=4000), row(0.2)])
    common.write_rows("document", [row(0.3, train_subset=4000, test_subset=None)])
    rows = json.loads((tmp_path / "document.json").read_text())
    assert sorted(r["accuracy"] for r in rows) == [0.2, 0.3]


def test_rows_can_supersede_every_older_row_of_a_task(common, tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path)

    def row(task: str, runs: int, **settings) -> dict:
        return {"task": task, "dataset": "-", "split": "-", "model": "m", "settings": {"runs": runs, **settings}}

    common.write_rows("speed", [row("cold-start", 3, threads=1), row("throughput", 3)])
    common.write_rows("speed", [row("cold-start", 5, threads=2)], replace={"task": "cold-start"})
    rows = json.loads((tmp_path / "speed.json").read_text())
    assert rows == [row("throughput", 3), row("cold-start", 5, threads=2)]


def test_run_seeds_trains_each_seed_in_its_own_folder_and_reuses_its_score(common, tiny_backbone, tmp_path):
    rows = ["text,label"] + [f"{w} thing {i},{lab}" for i in range(6) for w, lab in (("nice", "pos"), ("awful", "neg"))]
    data = tmp_path / "mine.csv"
    data.write_text("\n".join(rows) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"model: {{type: text-classifier, backbone: {tiny_backbone}, adapter: full}}\n"
        f"data: {{train: {data}, validation: {data}, max_length: 16}}\n"
        "train: {epochs: 1, batch_size: 8, patience: null}\n"
    )
    runs = tmp_path / "runs"
    results = common.run_seeds(config, str(data), [1, 2], runs)
    assert [r["n"] for r in results] == [12, 12]
    for seed, result in zip([1, 2], results, strict=True):
        saved = json.loads((runs / f"seed{seed}" / "experiment.json").read_text())
        assert saved["train"]["seed"] == seed and saved["output"] == str(runs / f"seed{seed}")
        assert result["scored"] == {"dataset": str(data), "split": "test", "test_subset": None}
        assert set(result["validation"]) >= {"accuracy", "n"}
    written = [(runs / f"seed{seed}" / "test_metrics.json").stat().st_mtime_ns for seed in (1, 2)]
    again = common.run_seeds(config, str(data), [1, 2], runs, eval_only=True)  # the saved scores, not new ones
    assert again == results
    assert [(runs / f"seed{seed}" / "test_metrics.json").stat().st_mtime_ns for seed in (1, 2)] == written


@pytest.fixture(scope="module")
def moe_budget(common):
    import sys

    sys.modules.setdefault("common", common)  # the benchmark imports its sibling as `common`
    spec = importlib.util.spec_from_file_location("benchmarks_moe_budget", COMMON.with_name("moe_budget.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_moe_budget_arms_search_spaces_of_one_size_and_every_config_is_valid(moe_budget):
    from sentimentkit.config import ExperimentConfig, apply_overrides, from_dict
    from sentimentkit.models.base import model_config
    from sentimentkit.training.hpo import SearchConfig, _parse_space

    sizes = {arm: len(space) for arm, space in moe_budget.SPACES.items()}
    assert set(sizes) == set(moe_budget.ARMS) and len(set(sizes.values())) == 1, sizes
    assert all(space["train.lr"] == moe_budget.LR for space in moe_budget.SPACES.values())
    for dataset in moe_budget.DATASETS:
        for arm in moe_budget.ARMS:
            raw = moe_budget.base_config(arm, dataset)
            assert raw["train"]["bf16"] is False and raw["data"]["train"] == dataset
            space = _parse_space(from_dict(SearchConfig, raw["search"]).space)
            for spec_key, spec in space.items():  # every value the search can draw is a valid config
                for value in spec.choices or (spec.low, spec.high):
                    trial = apply_overrides(
                        {k: v for k, v in raw.items() if k != "search"}, [f"{spec_key}={json.dumps(value)}"]
                    )
                    model_config(from_dict(ExperimentConfig, trial).model)


def test_moe_budget_paired_bootstrap_centres_on_the_difference(moe_budget):
    import numpy as np

    rng = np.random.default_rng(0)
    a = (rng.random((3, 400)) < 0.6).astype(float)
    same = moe_budget.paired_bootstrap(a, a, np.random.default_rng(1))
    assert same["difference"] == 0.0 and same["ci95_sentences"] == [0.0, 0.0]
    assert same["ci95"][0] < 0.0 < same["ci95"][1]  # the same seeds drawn differently for the two arms
    agree = np.repeat(a[:1], 3, axis=0)  # seeds that agree, so only the sentences vary
    better = agree.copy()
    better[:, :40] = 1.0  # the better arm is right on 40 more of the sentences the first got wrong, at most
    d = moe_budget.paired_bootstrap(better, agree, np.random.default_rng(1))
    assert d["difference"] == pytest.approx((better - agree).mean())
    assert 0.0 < d["ci95"][0] <= d["difference"] <= d["ci95"][1]


def test_moe_budget_bootstrap_carries_the_seed_spread(moe_budget):
    import numpy as np

    rng = np.random.default_rng(0)
    base = (rng.random((1, 2000)) < 0.5).astype(float)
    steady = np.repeat(base, 5, axis=0)  # five seeds with the same predictions
    swings = steady.copy()  # five seeds that differ from it by -8 to +8 points, 0 on average
    for seed, shift in enumerate((-160, -80, 0, 80, 160)):
        rows = np.flatnonzero(base[0] == (0.0 if shift > 0 else 1.0))[: abs(shift)]
        swings[seed, rows] = 1.0 - swings[seed, rows]
    d = moe_budget.paired_bootstrap(swings, steady, np.random.default_rng(1))
    assert d["difference"] == pytest.approx(0.0)
    narrow, wide = np.diff(d["ci95_sentences"])[0], np.diff(d["ci95"])[0]
    assert wide > 2 * narrow  # resampling sentences alone sees none of the seeds' spread
    assert d["ci95"][0] < -0.03 and d["ci95"][1] > 0.03
    held = moe_budget.paired_bootstrap(steady, steady, np.random.default_rng(1))
    assert held["ci95"] == [0.0, 0.0]  # seeds that agree add nothing


def test_moe_budget_queue_tunes_trains_seeds_and_reports(moe_budget, common, tiny_backbone, tmp_path, monkeypatch):
    rows = ["text,label"] + [f"{w} thing {i},{lab}" for i in range(6) for w, lab in (("nice", "pos"), ("awful", "neg"))]
    data = tmp_path / "mine.csv"
    data.write_text("\n".join(rows) + "\n")

    def tiny_config(arm, dataset):
        model = {"type": "full-ft", "backbone": tiny_backbone}
        if arm != "full-ft":
            model = {"type": "moe", "backbone": tiny_backbone, "num_experts": 2}
        space = {"train.lr": moe_budget.LR}
        if arm != "full-ft":
            space["model.layers"] = {"type": "categorical", "choices": [[-1], [-2, -1]]}
        return {
            "model": model,
            "data": {"train": str(data), "validation": str(data), "max_length": 16},
            "train": {"epochs": 1, "batch_size": 8, "patience": None, "bf16": False},
            "output": str(moe_budget.folder(dataset, arm) / "seed{seed}"),
            "search": {"space": space, "startup_trials": 1, "seed": 0},
        }

    monkeypatch.setattr(moe_budget, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(moe_budget, "FIGURES", tmp_path / "figures")
    monkeypatch.setattr(moe_budget, "KEPT", tmp_path / "figures" / "kept")
    monkeypatch.setattr(moe_budget, "ARMS", ("full-ft", "moe"))
    monkeypatch.setattr(moe_budget, "DATASETS", ("mine",))  # a run folder name; the configs read the csv
    monkeypatch.setattr(moe_budget, "SEEDS", (1, 2))
    monkeypatch.setattr(moe_budget, "SPACES", {a: tiny_config(a, "x")["search"]["space"] for a in ("full-ft", "moe")})
    monkeypatch.setattr(moe_budget, "base_config", tiny_config)
    monkeypatch.setattr(moe_budget, "BOOTSTRAP", 200)
    written = {}
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")

    def write_rows(suite, rows, replace=None):
        written.setdefault(suite, rows)
        return common.write_rows(suite, rows, replace)

    monkeypatch.setattr(moe_budget, "write_rows", write_rows)

    moe_budget.queue(2, [1, 2])
    moe_budget.report()
    kept_before = {arm: json.loads(moe_budget.kept("mine", arm, "trials").read_text()) for arm in ("full-ft", "moe")}
    rows = {r["model"]: r for r in written["moe_budget"]}
    assert set(rows) == {"full-ft", "moe"}
    for arm, row in rows.items():
        assert row["settings"]["completed"] + row["settings"]["pruned"] == 2
        assert len(row["tuning_curve"]) == 2 and row["tuning_curve"][0] <= row["tuning_curve"][1]
        assert row["metrics"]["accuracy"]["n"] == 2
        validation = []
        for seed in (1, 2):
            saved = json.loads(moe_budget.kept("mine", arm, f"seed{seed}").read_text())
            assert len(saved["gold"]) == len(saved["predicted"]) == 12 and saved["seconds"] > 0
            assert not os.path.isabs(saved["config"]["output"])  # committed records name no machine paths
            validation.append(saved["validation"]["accuracy"])  # the selected checkpoint's validation score
            assert 0.0 <= validation[-1] <= 1.0 and saved["validation"]["n"] == 12
        assert row["metrics"]["validation_accuracy"]["mean"] == pytest.approx(sum(validation) / 2)
    assert rows["moe"]["settings"]["best_params"]["model.layers"] in ([-1], [-2, -1])
    (diff,) = rows["moe"]["comparisons"]
    assert diff["b"] == "full-ft" and diff["seeds"] == 2 and diff["lo"] <= diff["mean_diff"] <= diff["hi"]
    validation = {arm: row["metrics"]["validation_accuracy"]["mean"] for arm, row in rows.items()}
    gap = validation["moe"] - validation["full-ft"]
    assert diff["validation_mean_diff"] == pytest.approx(gap)
    assert diff["wins"] == (diff["validation_mean_diff"] > 0 and diff["lo"] > 0)
    assert rows["full-ft"]["comparisons"] == []
    assert (tmp_path / "figures" / "tuning_mine.png").stat().st_size > 0

    # a new checkout: the run folders are gone, the committed records are not
    import shutil

    shutil.rmtree(tmp_path / "runs")
    moe_budget.queue(3, [1, 2], arms=("full-ft",))  # one more trial per study, arms split between two queues
    assert len(json.loads(moe_budget.kept("mine", "moe", "trials").read_text())) == 2  # the other queue's study
    moe_budget.queue(3, [1, 2], arms=("moe",))  # nothing else trains
    for arm in ("full-ft", "moe"):
        search = moe_budget.folder("mine", arm) / "search"
        assert sorted(p.name for p in search.glob("trial-*")) == ["trial-2"]
        assert not moe_budget.folder("mine", arm).joinpath("seed1").exists()  # the scored seeds were kept
        trials = json.loads(moe_budget.kept("mine", arm, "trials").read_text())
        assert len(trials) == 3 and trials[:2] == kept_before[arm]
    written.clear()
    moe_budget.report()
    again = {r["model"]: r for r in written["moe_budget"]}
    assert again["moe"]["metrics"]["accuracy"] == rows["moe"]["metrics"]["accuracy"]
    assert len(again["moe"]["tuning_curve"]) == 3
    # the results file holds one row per study: the rows of the longer studies replaced the earlier ones
    saved = json.loads((tmp_path / "results" / "moe_budget.json").read_text())
    assert sorted(r["model"] for r in saved) == ["full-ft", "moe"]
    assert all(len(r["tuning_curve"]) == 3 for r in saved)


def _trial(state, value, scores):
    return {"state": state, "value": value, "params": {}, "intermediate_values": scores,
            "datetime_start": "2026-01-01T00:00:00", "datetime_complete": "2026-01-01T00:01:00"}  # fmt: skip


def test_moe_budget_tuning_curve_is_set_by_completed_trials_only(moe_budget, tmp_path, monkeypatch):
    monkeypatch.setattr(moe_budget, "KEPT", tmp_path)
    monkeypatch.setattr(moe_budget, "best_params", lambda arm, ended: None)
    trials = [
        _trial("PRUNED", 0.7, {"10": 0.7}),  # before any completed trial: no best yet
        _trial("COMPLETE", 0.5, {"10": 0.4, "20": 0.5}),
        _trial("PRUNED", 0.9, {"10": 0.9}),  # a partly trained model's score, however high, is not a result
        _trial("COMPLETE", 0.6, {"10": 0.5, "20": 0.6}),
    ]
    moe_budget.kept("x", "moe", "trials").write_text(json.dumps(trials))
    study = moe_budget.study_summary("x", "moe")
    assert study["best_validation_curve"] == [None, 0.5, 0.5, 0.6]
    assert (study["completed"], study["pruned"], study["search_steps"]) == (2, 2, 60)


@pytest.fixture(scope="module")
def results_report():
    spec = importlib.util.spec_from_file_location("benchmarks_report", COMMON.with_name("report.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _budget_row(dataset, arm, n, comparison=None, planned=5):
    metric = {"mean": 0.5, "std": 0.01, "n": n}
    return {
        "dataset": dataset,
        "model": arm,
        "metrics": {"accuracy": metric, "validation_accuracy": metric} if n else {},
        "settings": {"seeds_planned": planned},
        "comparisons": [comparison] if comparison else [],
    }


@pytest.mark.parametrize(
    ("validation", "lo", "seeds", "verdict"),
    [
        (+0.01, +0.002, 5, "a: moe beat full fine-tuning"),
        (+0.01, -0.002, 5, "a: no MoE arm beats full fine-tuning"),  # ahead on validation, test CI spans zero
        (-0.01, +0.002, 5, "a: no MoE arm beats full fine-tuning"),  # behind on validation, the test is not read
        (+0.01, +0.002, 3, "a: not finished"),  # fewer seeds than planned: no verdict
    ],
)
def test_moe_budget_verdict_needs_validation_and_test_and_every_seed(
    results_report, tmp_path, validation, lo, seeds, verdict
):
    wins = validation > 0 and lo > 0
    comparison = {"a": "moe", "b": "full-ft", "metric": "accuracy", "seeds": seeds, "mean_diff": lo + 0.005,
                  "lo": lo, "hi": lo + 0.01, "validation_mean_diff": validation, "wins": wins}  # fmt: skip
    rows = [_budget_row("a", "full-ft", 5), _budget_row("a", "moe", seeds, comparison)]
    path = tmp_path / "moe_budget.json"
    path.write_text(json.dumps(rows))
    lines = results_report.moe_budget_summary(path)
    (line,) = [x for x in lines if x.startswith("- a:")]
    assert line.startswith(f"- {verdict}"), line
    rows[1] = _budget_row("a", "moe", 0)  # an arm without seeds yet
    path.write_text(json.dumps(rows))
    assert any("no seeds yet" in x for x in results_report.moe_budget_summary(path))


def test_moe_budget_compute_table_reads_the_curve_at_its_budgets(results_report):
    row = _budget_row("a", "moe", 5)
    curve = [None, None, 0.41, 0.42, 0.42, 0.42, 0.42, 0.45] + [0.46] * 8  # no completed trial before trial 3
    row |= {"tuning_curve": curve}
    row["settings"] |= {"completed": 6, "pruned": 10, "search_steps": 7623, "search_seconds": 7200.0,
                        "seed_seconds": 1800.0}  # fmt: skip
    short = _budget_row("a", "full-ft", 5) | {"tuning_curve": [None] * 5 + [0.40]}  # a study stopped at 6 trials
    lines = results_report.moe_budget_compute([row, short])
    assert "| a | moe | 6 + 10 | 0.4200 / 0.4500 / 0.4600 | 7623 | 2.00 | 0.50 |" in lines
    assert any(x.startswith("| a | full-ft |") and "| - / - / - |" in x for x in lines)
    assert any("results/moe_budget/tuning_a.png" in x for x in lines)
    row["settings"]["seed_seconds_partial"] = 2
    (line,) = [x for x in results_report.moe_budget_compute([row]) if x.startswith("| a | moe |")]
    assert line.endswith("| >= 0.50 (2 resumed seeds count their last call only) |")


@pytest.fixture(scope="module")
def calibration_benchmark(common):
    import sys

    sys.path.insert(0, str(COMMON.parent))
    spec = importlib.util.spec_from_file_location("benchmarks_calibration", COMMON.with_name("calibration.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_diagnosis_scores_one_source_of_a_mixture_at_its_own_granularity(calibration_benchmark):
    import numpy as np

    from sentimentkit.training.calibrate import Grouped

    # two sources: a 3-class one and a binary one whose labels group classes (0,) and (1, 2)
    grouped = Grouped(("a", "b"), (((0,), (1,), (2,)), ((0,), (1, 2))), np.array([0, 0, 1, 1, 1]),
                      np.array([2, 1, 0, 1, 1]))  # fmt: skip
    logits = np.array([[0, 0, 3], [0, 2, 0], [2, 0, 0], [0, 1, 1], [3, 0, 0]], dtype=float)
    part = calibration_benchmark.source_part(grouped, grouped.source == 1)
    assert part.names == ("b",) and part.groups == (((0,), (1, 2)),) and list(part.labels) == [0, 1, 1]
    _, confidence, correct = part.scores(logits[grouped.source == 1], 1.0)
    assert list(correct) == [True, True, False]  # the last text is "1 or 2" but the model says class 0
    assert confidence[1] > 0.8  # classes 1 and 2 summed
    ece = calibration_benchmark.ece_at(logits[grouped.source == 1], part, 1.0)
    assert 0.0 < ece < 1.0
    sources = calibration_benchmark.validation_sources("a + b", grouped, "validation")
    assert list(sources) == ["a", "a", "b", "b", "b"]
    assert calibration_benchmark.validation_sources("sst5", np.array([0, 1]), "validation") is None


def test_calibrators_recover_a_known_miscalibration_and_fit_grouped_labels(calibration_benchmark):
    import numpy as np

    from sentimentkit.tasks.base import softmax
    from sentimentkit.training.calibrate import Grouped

    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, size=(4000, 3))
    labels = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    shift = np.array([1.5, 0.0, -1.5])  # the model is 3x overconfident and prefers class 0
    logits = 3.0 * true_logits + shift
    fit = calibration_benchmark.fit_calibrator

    def nll(z):
        return float(-np.log(softmax(z)[np.arange(len(labels)), labels]).mean())

    t_only, with_bias = fit("temperature", logits, labels), fit("temperature+bias", logits, labels)
    assert nll(with_bias(logits)) < nll(t_only(logits)) < nll(logits)
    recovered = with_bias(logits)  # = true logits up to a constant per row
    offset = recovered - true_logits
    assert np.allclose(offset - offset.mean(-1, keepdims=True), 0.0, atol=0.15)
    for kind in ("vector", "matrix"):
        assert nll(fit(kind, logits, labels)(logits)) < nll(t_only(logits)) + 1e-3
    # grouped labels: a binary source's "positive" is classes (1, 2); all its texts positive pushes those classes up
    grouped = Grouped(("b",), (((0,), (1, 2)),), np.zeros(200, dtype=int), np.ones(200, dtype=int))
    flat = np.zeros((200, 3))
    p = softmax(fit("temperature+bias", flat, grouped)(flat))
    assert (p[:, 1] + p[:, 2]).min() > 0.95
    # weights: 3900 texts 3x overconfident and 300 calibrated ones; weighted equally per source, the small
    # source pulls the fitted temperature well below the pooled fit (T read off as 1 / calibrate(unit logit))
    mixed = np.r_[3.0 * true_logits[:3900], true_logits[3900:]]
    equal = np.r_[np.full(3900, 1 / 3900), np.full(100, 1 / 100)]
    pooled_t = 1.0 / fit("temperature", mixed, labels)(np.eye(3))[0, 0]
    equal_t = 1.0 / fit("temperature", mixed, labels, equal)(np.eye(3))[0, 0]
    assert 1.0 < equal_t < pooled_t - 0.3 and pooled_t < 3.2
    members = [logits, true_logits + 5.0]  # an ensemble averages probabilities (a constant per row changes nothing)
    mean = (softmax(logits) + softmax(true_logits)) / 2
    assert np.allclose(softmax(calibration_benchmark.ensemble_logits(members)), mean)
    ceiling = calibration_benchmark.bias_ceiling(logits, labels, steps=9)
    assert ceiling >= calibration_benchmark.macro_f1(logits, labels)


def test_calibration_noise_floor_separates_a_small_calibrated_set_from_an_overconfident_one(calibration_benchmark):
    import numpy as np

    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.5, 1.0, 400)
    calibrated = rng.random(400) < confidence  # right as often as claimed: only sampling noise remains
    noise = calibration_benchmark.ece_noise(confidence, calibrated, np.random.default_rng(1))
    measured = calibration_benchmark.confidence_calibration_error(confidence, calibrated)
    # binned ECE is biased upward on 400 texts: a calibrated model does not measure 0, and this one falls in range
    assert 0.01 < noise["ece_if_calibrated"] < noise["ece_if_calibrated_p95"] < 0.1
    assert noise["ece_fitted_lo"] <= measured <= noise["ece_fitted_hi"]
    assert measured <= noise["ece_if_calibrated_p95"] + 0.02
    over = np.full(400, 0.95)
    half = np.arange(400) % 2 == 0  # claims 95 % and is right half the time
    noise = calibration_benchmark.ece_noise(over, half, np.random.default_rng(1))
    assert noise["ece_if_calibrated_p95"] < 0.05 < 0.35 < noise["ece_fitted_lo"]  # measured: 0.45


@pytest.mark.data
def test_calibration_cache_key_follows_the_data(calibration_benchmark, data_dir, monkeypatch):
    monkeypatch.setenv("SENTIMENTKIT_DATA", str(data_dir))
    fingerprint = calibration_benchmark.data_fingerprint
    assert fingerprint("laptop14", "validation") == fingerprint("laptop14", "validation")
    assert fingerprint("laptop14", "validation") != fingerprint("laptop14", "test")
    assert fingerprint("laptop14 + twitter", "test") != fingerprint("laptop14", "test")
