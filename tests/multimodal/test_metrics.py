"""MMSA metrics on hand-computed cases, and against a scikit-learn transcription of MMSA's definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from sentimentkit.multimodal.metrics import (
    mmsa_regression,
    mmsa_report,
    paired_bootstrap,
    rounded,
    sims_classes,
    sims_regression,
    weighted_f1,
)


def test_rounding_is_half_to_even():
    # Half away from zero would give 3, -1, 2, 1 and only one match.
    m = mmsa_regression([2.5, -0.5, 1.5, 0.5], [2.0, 0.0, 2.0, 0.0])
    assert m["acc7"] == 1.0
    assert m["acc5"] == 1.0


def test_acc7_clips_at_3_and_acc5_at_2():
    # 3.7 rounds to 4 unclipped, -4.2 to -4; clipped to +-3 they match 3.0 and round(-2.6) = -3.
    m = mmsa_regression([3.7, -4.2], [3.0, -2.6])
    assert m["acc7"] == 1.0
    # Acc-5: clip 2.6 -> 2 == round(1.6); Acc-7: round(2.6) = 3 != 2.
    m = mmsa_regression([2.6], [1.6])
    assert m["acc5"] == 1.0
    assert m["acc7"] == 0.0
    # MAE and Corr use the unclipped values.
    m = mmsa_regression([3.7, -4.2, 0.0], [3.0, -2.6, 0.0])
    assert m["mae"] == pytest.approx((0.7 + 1.6 + 0.0) / 3)


def test_non0_drops_zero_truths_and_counts_zero_predictions_as_negative():
    truth = [0.0, 1.0, -1.0, 2.0]
    pred = [1.0, 0.0, -1.0, 0.5]
    m = mmsa_regression(pred, truth)
    assert m["n"] == 4 and m["n_non0"] == 3
    # Kept: pred [0, -1, 0.5] -> [neg, neg, pos]; truth [1, -1, 2] -> [pos, neg, pos].
    assert m["non0_acc2"] == pytest.approx(2 / 3)
    # Per class F1: pos 2*1/(2+1) = 2/3 (support 2), neg 2*1/(1+2) = 2/3 (support 1).
    assert m["non0_f1"] == pytest.approx(2 / 3)
    # Has0 keeps every clip and puts 0 with the non-negatives: [>=0, >=0, <0, >=0] on both sides.
    assert m["has0_acc2"] == 1.0
    assert m["has0_f1"] == 1.0


def test_non0_is_nan_when_every_truth_is_zero():
    m = mmsa_regression([0.3, -0.2], [0.0, 0.0])
    assert m["n_non0"] == 0
    assert math.isnan(m["non0_acc2"]) and math.isnan(m["non0_f1"])


def test_has0_and_sims_acc2_put_zero_on_opposite_sides():
    # Prediction 0: Has0 calls it non-negative, SIMS Acc-2 calls it negative ({<= 0}).
    assert mmsa_regression([0.0], [-0.5])["has0_acc2"] == 0.0
    assert sims_regression([0.0], [-0.5])["acc2"] == 1.0
    assert mmsa_regression([0.0], [0.5])["has0_acc2"] == 1.0
    assert sims_regression([0.0], [0.5])["acc2"] == 0.0


def test_f1_argument_order_matters():
    truth = [1.0, 1.0, 1.0, 1.0, -1.0]
    pred = [1.0, 1.0, 1.0, -1.0, -1.0]
    # Per class F1: pos 2*3/(4+3) = 6/7, neg 2*1/(1+2) = 2/3. Weighted by TRUE support (4, 1): 86/105;
    # weighted by predicted support (3, 2), the swapped (ALMT-bug) order: 82/105.
    expected, swapped = 86 / 105, 82 / 105
    assert mmsa_regression(pred, truth)["has0_f1"] == pytest.approx(expected)
    t, p = np.array(truth) >= 0, np.array(pred) >= 0
    assert f1_score(t, p, average="weighted") == pytest.approx(expected)
    assert f1_score(p, t, average="weighted") == pytest.approx(swapped)
    assert weighted_f1(p, t) == pytest.approx(swapped)


def test_corr_is_nan_on_constant_predictions():
    m = mmsa_regression([0.5, 0.5, 0.5], [1.0, -1.0, 2.0])
    assert math.isnan(m["corr"])
    assert math.isnan(sims_regression([2.0, 3.0], [0.1, 0.4])["corr"])  # both clip to 1.0: constant
    assert rounded(m)["mae"] == round(m["mae"], 4)
    assert math.isnan(rounded(m)["corr"])


def test_one_case_recomputed_by_hand():
    pred = np.array([-2.4, 0.0, 1.49, 2.6, -0.6, 3.4])
    truth = np.array([-2.0, 0.4, 0.0, 2.2, 0.6, 3.0])
    m = mmsa_regression(pred, truth)
    # MAE: |-.4| + .4 + 1.49 + .4 + 1.2 + .4 = 4.29
    assert m["mae"] == pytest.approx(4.29 / 6)
    # Acc-7: rounded pred [-2, 0, 1, 3, -1, 3] vs truth [-2, 0, 0, 2, 1, 3] -> clips 0, 1, 5 match.
    assert m["acc7"] == pytest.approx(3 / 6)
    # Acc-5: clipped pred [-2, 0, 1.49, 2, -0.6, 2] -> [-2, 0, 1, 2, -1, 2]; truth [-2, 0, 0, 2, 1, 2] -> 4 match.
    assert m["acc5"] == pytest.approx(4 / 6)
    # Has0: pred >= 0 [F, T, T, T, F, T]; truth >= 0 [F, T, T, T, T, T] -> 5 of 6 agree.
    assert m["has0_acc2"] == pytest.approx(5 / 6)
    # Has0 F1: class T support 5, TP 4, predicted 4 -> 8/9; class F support 1, TP 1, predicted 2 -> 2/3.
    assert m["has0_f1"] == pytest.approx((5 * 8 / 9 + 1 * 2 / 3) / 6)
    # Non0 drops truth 0 (clip 2): pred > 0 [F, F, T, F, T]; truth > 0 [F, T, T, T, T] -> 3 of 5.
    assert m["n_non0"] == 5
    assert m["non0_acc2"] == pytest.approx(3 / 5)
    # Non0 F1: class T support 4, TP 2, predicted 2 -> 2/3; class F support 1, TP 1, predicted 3 -> 1/2.
    assert m["non0_f1"] == pytest.approx((4 * 2 / 3 + 1 * 1 / 2) / 5)
    # Pearson r from its definition.
    dp, dt = pred - pred.mean(), truth - truth.mean()
    assert m["corr"] == pytest.approx((dp * dt).sum() / math.sqrt((dp**2).sum() * (dt**2).sum()))


def _mmsa_reference(p: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """MMSA's definitions (spec section 2) written with scikit-learn, to compare against."""
    nz = t != 0
    return {
        "has0_acc2": accuracy_score(p >= 0, t >= 0),
        "has0_f1": f1_score(t >= 0, p >= 0, average="weighted"),
        "non0_acc2": accuracy_score(p[nz] > 0, t[nz] > 0),
        "non0_f1": f1_score(t[nz] > 0, p[nz] > 0, average="weighted"),
        "acc5": np.mean(np.round(np.clip(p, -2, 2)) == np.round(np.clip(t, -2, 2))),
        "acc7": np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(t, -3, 3))),
        "mae": np.mean(np.abs(p - t)),
        "corr": np.corrcoef(p, t)[0][1],
    }


def test_matches_a_scikit_learn_transcription_on_random_data():
    rng = np.random.default_rng(0)
    for size in (3, 10, 57):
        # Half-point values and exact zeros on both sides, as in MOSI labels.
        t = np.round(rng.uniform(-3.5, 3.5, size) * 2) / 2
        p = np.where(rng.random(size) < 0.2, 0.0, np.round(rng.normal(0, 2, size), 1))
        t[0], p[1] = 1.0, -1.0  # at least one non-zero truth and a non-constant prediction
        ours, ref = mmsa_regression(p, t), _mmsa_reference(p, t)
        for key, value in ref.items():
            assert ours[key] == pytest.approx(float(value), abs=1e-12), (size, key)


def test_sims_bins_edges_and_clipping():
    values = np.array([-1.0, -0.7, -0.69, -0.1, 0.0, 0.1, 0.11, 0.7, 1.0])
    assert sims_classes(values, 2).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert sims_classes(values, 3).tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 2]
    assert sims_classes(values, 5).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4]
    # 1.8 is clipped to 1 before MAE: |1 - 0.8| = 0.2; -0.05 vs 0.05: 0.1.
    m = sims_regression([1.8, -0.05], [0.8, 0.05])
    assert m["mae"] == pytest.approx(0.15)
    assert m["acc3"] == 1.0 and m["acc2"] == 0.5 and m["n"] == 2


def test_mmsa_report_uses_population_std_times_100():
    seeds = [{"has0_acc2": 0.8, "mae": 0.9, "n": 10}, {"has0_acc2": 0.82, "mae": 1.0, "n": 10}]
    report = mmsa_report(seeds)
    assert report["has0_acc2"] == {"mean": 81.0, "std": 1.0}  # the sample std would be 1.41
    assert report["mae"] == {"mean": 95.0, "std": 5.0}
    assert report["seeds"] == 2 and "n" not in report
    # MMSA rounds each seed to 4 digits first.
    assert mmsa_report([{"acc7": 0.123449}, {"acc7": 0.123449}])["acc7"]["mean"] == 12.34
    with pytest.raises(ValueError, match="seed 1 has no metric 'mae'"):
        mmsa_report([{"mae": 0.5}, {"acc7": 0.5}])


def test_paired_bootstrap():
    rng = np.random.default_rng(1)
    truth = rng.uniform(-3, 3, 40)
    exact = paired_bootstrap(truth, truth + 1.0, truth, "mae", n=200)
    assert exact["mean_diff"] == pytest.approx(-1.0)
    assert exact["lo"] == pytest.approx(-1.0) and exact["hi"] == pytest.approx(-1.0)
    # Two seeds of noisy predictions: the interval brackets the full-data difference.
    a = truth + rng.normal(0, 0.5, (2, 40))
    b = truth + rng.normal(0, 1.0, (2, 40))
    result = paired_bootstrap(a, b, truth, "mae", n=300, seed=3)
    full = np.mean([np.abs(a[s] - truth).mean() - np.abs(b[s] - truth).mean() for s in range(2)])
    assert result["mean_diff"] == pytest.approx(full)
    assert result["lo"] < result["mean_diff"] < result["hi"] < 0
    assert paired_bootstrap(a, b, truth, "mae", n=300, seed=3) == result  # seeded
    with pytest.raises(ValueError, match="unknown metric"):
        paired_bootstrap(a, b, truth, "accuracy")


def test_sims_matches_a_scikit_learn_transcription():
    rng = np.random.default_rng(2)
    p, t = rng.uniform(-1.3, 1.3, 40), np.round(rng.uniform(-1, 1, 40) * 5) / 5  # ties on the bin edges
    pc, tc = np.clip(p, -1, 1), np.clip(t, -1, 1)

    def bins(x, edges):
        out = x.copy()
        for i in range(len(edges) - 1):
            out[(x > edges[i]) & (x <= edges[i + 1])] = i
        return out

    e2, e3, e5 = [-1.01, 0.0, 1.01], [-1.01, -0.1, 0.1, 1.01], [-1.01, -0.7, -0.1, 0.1, 0.7, 1.01]
    ours = sims_regression(p, t)
    for key, edges in (("acc2", e2), ("acc3", e3), ("acc5", e5)):
        assert ours[key] == pytest.approx(np.mean(bins(pc, edges) == bins(tc, edges)))
    assert ours["f1"] == pytest.approx(f1_score(bins(tc, e2), bins(pc, e2), average="weighted"))
    assert ours["corr"] == pytest.approx(np.corrcoef(pc, tc)[0][1])


def test_rows_version_agrees_with_single_calls():
    from sentimentkit.multimodal.metrics import mmsa_regression_rows

    rng = np.random.default_rng(4)
    t = np.round(rng.uniform(-3, 3, (5, 20)) * 2) / 2
    p = rng.normal(0, 2, (5, 20))
    p[0] = 1.0  # constant row: corr NaN
    t[1] = 0.0  # no non-zero truth: non0 NaN
    rows = mmsa_regression_rows(p, t)
    for i in range(5):
        single = mmsa_regression(p[i], t[i])
        for key, value in single.items():
            assert rows[key][i] == pytest.approx(value, nan_ok=True), (i, key)
