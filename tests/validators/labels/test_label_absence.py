"""label_skew.absent_in_split for rare classes: statistically clear absences, plausible ones, many classes.

The null is a random split: given a class's K images in a pair of splits, P(none in the split) =
C(n_ref, K) / C(n_ref + n_split, K). With 5,000 train and 2,000 val images that is 0.034 for 10
images (4 expected in val: plausible), 0.0064 for 15 (6 expected: clear, a warning) and 0.0012 for
20 (8 expected, and enough for the error rule).
"""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import fisher_exact
from seed_tables import exact_multi_hot

from pipecheck.validators.labels import LabelSet, check_class_counts, check_label_skew
from pipecheck.validators.labels.stats import absence_pvalue, exact_bonferroni_level

ABSENT = "label_skew.absent_in_split"


def absent(labels: LabelSet):
    return [f for f in check_label_skew(labels) if f.check == ABSENT]


def single_label(train_fox: int, val_fox: int) -> LabelSet:
    """5,000 train / 2,000 val images of cat and dog, with ``train_fox`` / ``val_fox`` fox images."""
    counts = {
        "train": {"cat": 2500, "dog": 2500 - train_fox, "fox": train_fox},
        "val": {"cat": 1000, "dog": 1000 - val_fox, "fox": val_fox},
    }
    return LabelSet.from_label_lists(
        ["cat", "dog", "fox"],
        {s: [[c] for c, n in per.items() for _ in range(n)] for s, per in counts.items()},
        multi_label=False,
    )


def multi_label(train_rare: float, val_rare: float) -> LabelSet:
    rng = np.random.default_rng(4)
    return LabelSet(
        ["person", "car", "kite"],
        {
            "train": exact_multi_hot(5000, np.array([0.3, 0.5, train_rare]), rng),
            "val": exact_multi_hot(2000, np.array([0.3, 0.5, val_rare]), rng),
        },
        multi_label=True,
    )


# --------------------------------------------------------------------------- the statistics


def test_absence_pvalue_is_fishers_one_sided_exact_test():
    for k, n_ref, n_split in ((15, 5000, 2000), (4, 2000, 8000), (1, 30, 10)):
        expected = fisher_exact([[k, n_ref - k], [0, n_split]], alternative="greater")[1]
        assert absence_pvalue([k], n_ref, [0], n_split)[0] == pytest.approx(expected, rel=1e-9)
        assert absence_pvalue([k], n_ref, [0], n_split)[0] == pytest.approx(
            comb(n_ref, k) / comb(n_ref + n_split, k), rel=1e-9
        )
    # K counts both splits: 15 + 6 images give the chance that all 21 land in the reference.
    assert absence_pvalue([15], 5000, [6], 2000)[0] == pytest.approx(comb(5000, 21) / comb(7000, 21))
    assert absence_pvalue([0], 10, [0], 10)[0] == 1.0  # no image anywhere: nothing to test
    assert absence_pvalue([11], 10, [0], 10)[0] == 0.0  # 11 images cannot all fit in 10


def test_exact_bonferroni_level_spends_alpha_on_the_tests_that_can_reject():
    # Frequent classes (1e-30) cost nothing: the rare one is judged at nearly the full alpha.
    assert exact_bonferroni_level([1e-30, 1e-30, 0.006, 0.9], 0.01) == (0.006, 3)
    # 0.004 + 0.005 fit in 0.01, the next 0.005 would not; ties are all in or all out.
    assert exact_bonferroni_level([0.004, 0.005, 0.2], 0.01) == (0.005, 2)
    assert exact_bonferroni_level([0.004, 0.005, 0.005], 0.01) == (0.004, 1)
    assert exact_bonferroni_level([0.02, 0.5], 0.01) == (0.0, 0)


# --------------------------------------------------------------------------- single-label and multi-label


def test_rare_class_clearly_absent_from_val_warns_single_label():
    (f,) = absent(single_label(15, 0))
    assert f.subject == "fox" and f.severity.value == "warning"
    ev = f.evidence
    assert (ev["split"], ev["reference_split"], ev["n_split"]) == ("val", "train", 2000)
    assert ev["prevalence_reference"] == pytest.approx(0.003)
    assert ev["expected"] == pytest.approx(6.0)
    assert ev["p_value"] == pytest.approx(comb(5000, 15) / comb(7000, 15))  # 0.0064
    assert ev["p_value"] <= ev["alpha_per_test"] <= 0.01
    assert ev["expected_lower_bound"] < 5  # below the error rule: a warning, not an error
    assert "0 of 2,000 val images; ~6.0 expected, p = 0.006" in f.message
    assert "pipecheck split" in f.hint and "iterative stratification" in f.hint
    # class_counts still reports it as too few val images; label_skew now says why it matters.
    assert "fox" in {
        g.subject for g in check_class_counts(single_label(15, 0)) if g.check == "class_counts.too_few_val"
    }


def test_clear_absence_with_several_expected_stays_an_error():
    (f,) = absent(single_label(20, 0))  # 0.4% of 5,000 train, ~8 expected in val, p = 0.0012
    assert f.subject == "fox" and f.severity.value == "error"
    assert f.evidence["expected_lower_bound"] >= 5


def test_plausible_absence_and_present_rare_class_are_silent_single_label():
    plausible = single_label(10, 0)  # ~4 expected in val: a random split misses it 3.4% of the time
    assert absence_pvalue([10], 5000, [0], 2000)[0] > 0.01
    assert [f.check for f in check_label_skew(plausible)] == ["label_skew.summary"]
    present = single_label(15, 6)  # the same rare class at its expected rate in val
    assert [f.check for f in check_label_skew(present)] == ["label_skew.summary"]


def test_rare_class_clearly_absent_from_val_warns_multi_label():
    (f,) = absent(multi_label(0.003, 0.0))
    assert f.subject == "kite" and f.severity.value == "warning"
    assert f.evidence["expected"] == pytest.approx(6.0)
    assert f.evidence["p_value"] == pytest.approx(comb(5000, 15) / comb(7000, 15))
    assert [f.check for f in check_label_skew(multi_label(0.002, 0.0))] == ["label_skew.summary"]
    assert [f.check for f in check_label_skew(multi_label(0.003, 0.003))] == ["label_skew.summary"]


def test_rare_class_missing_from_train_warns_against_val():
    # Reverse direction: 4 of 2,000 val images and none of 8,000 train (p = 0.2^4 ~ 0.0016).
    counts = {"train": {"cat": 4000, "dog": 4000}, "val": {"cat": 998, "dog": 998, "fox": 4}}
    labels = LabelSet.from_label_lists(
        None, {s: [[c] for c, n in per.items() for _ in range(n)] for s, per in counts.items()}, multi_label=False
    )
    (f,) = absent(labels)
    assert (f.subject, f.evidence["split"], f.evidence["reference_split"]) == ("fox", "train", "val")
    assert f.evidence["p_value"] == pytest.approx(comb(2000, 4) / comb(10000, 4))


# --------------------------------------------------------------------------- many classes


def zipf_single_label(seed: int, move_to_train: int | None = None) -> LabelSet:
    """1000 classes with Zipf frequencies (1/rank) over 50,000 images, a random 80/20 split."""
    rng = np.random.default_rng(seed)
    w = 1 / np.arange(1, 1001)
    y = rng.choice(1000, 50_000, p=w / w.sum())
    is_val = rng.random(y.size) < 0.2
    if move_to_train is not None:
        is_val[y == move_to_train] = False

    def one_hot(rows: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((np.ones(rows.size, dtype=bool), (np.arange(rows.size), rows)), shape=(rows.size, 1000))

    return LabelSet(
        [f"c{i:03d}" for i in range(1000)], {"train": one_hot(y[~is_val]), "val": one_hot(y[is_val])}, multi_label=False
    )


def zipf_multi_label(seed: int) -> LabelSet:
    """1000 tags at prevalence 20%/rank on 20,000 images (class 1000: ~4 images), split 80/20."""
    rng = np.random.default_rng(seed)
    n = 20_000
    cols = [rng.choice(n, rng.binomial(n, 0.2 / r), replace=False) for r in range(1, 1001)]
    rows = np.concatenate(cols)
    m = sp.csr_matrix(
        (np.ones(rows.size, dtype=bool), (rows, np.repeat(np.arange(1000), [c.size for c in cols]))), shape=(n, 1000)
    )
    is_val = rng.random(n) < 0.2
    return LabelSet([f"t{i:03d}" for i in range(1000)], {"train": m[~is_val], "val": m[is_val]}, multi_label=True)


def uncorrected_hits(labels: LabelSet) -> int:
    """Absent (class, split) pairs a per-class test at p < 0.01 would flag."""
    c = labels.counts()
    tr, va = c["train"], c["val"]
    hits = (va.positives == 0) & (absence_pvalue(tr.positives, tr.n_images, va.positives, va.n_images) < 0.01)
    hits |= (tr.positives == 0) & (absence_pvalue(va.positives, va.n_images, tr.positives, tr.n_images) < 0.01)
    return int(hits.sum())


@pytest.mark.parametrize("build", [zipf_single_label, zipf_multi_label])
def test_healthy_random_split_of_1000_zipf_classes_is_silent(build):
    hits = 0
    for seed in range(3):
        labels = build(seed)
        hits += uncorrected_hits(labels)
        assert [f.check for f in check_label_skew(labels)] == ["label_skew.summary"], seed
    # Per class, some absences are "significant" at 0.01; over 1000 classes that is chance.
    assert hits >= 1


def test_a_class_kept_out_of_val_is_still_found_among_1000():
    labels = zipf_single_label(0, move_to_train=60)  # rank 61: ~165 images, ~33 expected in val
    (f,) = absent(labels)
    assert f.subject == "c060" and f.severity.value == "error" and f.evidence["split"] == "val"
    assert f.evidence["p_value"] <= f.evidence["alpha_per_test"] < 0.01 / 10
    assert f.evidence["expected"] > 20
