"""label_skew and class_counts: seed 002's skewed split, its healthy twins, class-count cases, TFDV parity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from extras import needs_tfdv
from scipy.stats import chi2_contingency, fisher_exact
from seed_tables import SEED_002, exact_multi_hot

from pipecheck.validators import registry
from pipecheck.validators.labels import (
    LabelSet,
    LabelThresholds,
    SplitCounts,
    check_class_counts,
    check_label_skew,
    suggest_class_weights,
    suggest_pos_weight,
)
from pipecheck.validators.labels.stats import (
    cohens_h,
    example_distribution,
    jensen_shannon_divergence,
    label_distribution,
    linf_distance,
    two_proportion_pvalue,
    wilson_interval,
    zero_positive_counts,
)

CLASSES = list(SEED_002)
N_TRAIN, N_VAL = 50_000, 6_000


def seed_002(val_prev_from_train: bool = False) -> LabelSet:
    rng = np.random.default_rng(2)
    train_p = np.array([v[0] for v in SEED_002.values()]) / 100
    val_p = train_p if val_prev_from_train else np.array([v[1] for v in SEED_002.values()]) / 100
    return LabelSet(
        CLASSES,
        {"train": exact_multi_hot(N_TRAIN, train_p, rng), "val": exact_multi_hot(N_VAL, val_p, rng)},
        multi_label=True,
    )


def by_check(findings, check_id):
    return [f for f in findings if f.check == check_id]


def subjects(findings, check_id):
    return {f.subject for f in by_check(findings, check_id)}


# --------------------------------------------------------------------------- seed 002: label_skew


@pytest.fixture(scope="module")
def seed_002_findings():
    return check_label_skew(seed_002())


def test_seed_002_classes_absent_from_val_are_errors(seed_002_findings):
    absent = by_check(seed_002_findings, "label_skew.absent_in_split")
    # obj_13 (0.0056% of train) predicts 0.3 val images: its absence is chance, not skew.
    assert {f.subject for f in absent} == {"obj_1", "obj_14"}
    for f in absent:
        assert f.severity.value == "error"
        assert f.evidence["split"] == "val" and f.evidence["reference_split"] == "train"
        assert "iterative stratification" in f.hint and "pipecheck split" in f.hint
    obj_1 = next(f for f in absent if f.subject == "obj_1")
    assert "3.98% of train images" in obj_1.message
    assert "0 of 6,000 val images; ~239 expected" in obj_1.message
    assert obj_1.evidence["expected"] == pytest.approx(0.039832 * N_VAL, abs=0.5)


def test_seed_002_exactly_the_skewed_classes_have_prevalence_gaps(seed_002_findings):
    gaps = by_check(seed_002_findings, "label_skew.prevalence_gap")
    # Cohen's h >= 0.2 (small effect): the summary's five, 3.9% -> 9.4% (obj_11, h 0.23) and the
    # near-constant classes whose negatives shrink several-fold (obj_9 94.6% -> 98.8%, h 0.25).
    assert {f.subject for f in gaps} == {
        "obj_2",
        "obj_3",
        "obj_5",
        "obj_7",
        "obj_8",
        "obj_9",
        "obj_10",
        "obj_11",
        "obj_12",
        "obj_15",
        "obj_16",
        "obj_18",
        "obj_19",
    }
    # Quiet: 85.7% -> 81.5% (obj_4, h 0.11), 99.97% -> 100% (obj_6), 93.9% -> 97.5% (obj_17, h 0.18);
    # absent classes are reported once, as absent.
    assert not {"obj_4", "obj_6", "obj_17", "obj_1", "obj_13", "obj_14"} & {f.subject for f in gaps}
    errors = {f.subject for f in gaps if f.severity.value == "error"}
    assert errors == {"obj_2", "obj_5", "obj_12", "obj_15"}  # |h| >= 0.5, Cohen's medium effect
    obj_15 = next(f for f in gaps if f.subject == "obj_15")
    assert "61.3% of train images" in obj_15.message and "94.1" in obj_15.message
    assert obj_15.evidence["split_a"] == "train" and obj_15.evidence["split_b"] == "val"
    assert obj_15.evidence["cohens_h"] == pytest.approx(0.85, abs=0.01)
    assert obj_15.hint == registry.get("label_skew.prevalence_gap").hint


def test_seed_002_summary_shows_what_aggregates_miss(seed_002_findings):
    checks = {f.check for f in seed_002_findings}
    # Mean labels per image is 11.6 in train vs 11.9 in val: the per-class shifts cancel out.
    assert checks == {"label_skew.absent_in_split", "label_skew.prevalence_gap", "label_skew.summary"}
    (summary,) = by_check(seed_002_findings, "label_skew.summary")
    ev = summary.evidence
    assert ev["FZ"] == 1 and ev["FLZ"] == 3  # val lacks obj_1, obj_13, obj_14
    pair = ev["pairs"]["train vs val"]
    # Two classes vanished from val, yet TFDV's occurrence-share L-infinity moves by ~0.03 only.
    assert 0.02 < pair["linf"] < 0.05
    assert 0 < pair["js_bits"] < 0.05
    assert ev["LD"] > 1 and ev["ED"] is None


def test_seed_002_stratified_twin_is_silent():
    findings = check_label_skew(seed_002(val_prev_from_train=True))
    assert [f.check for f in findings] == ["label_skew.summary"]


def test_random_split_twin_is_silent():
    # Independent Bernoulli draws at train prevalence: sampling noise alone must not fire.
    rng = np.random.default_rng(7)
    p = np.array([v[0] for v in SEED_002.values()]) / 100
    labels = LabelSet(
        CLASSES,
        {"train": rng.random((N_TRAIN, p.size)) < p, "val": rng.random((N_VAL, p.size)) < p},
        multi_label=True,
    )
    assert [f.check for f in check_label_skew(labels)] == ["label_skew.summary"]


# --------------------------------------------------------------------------- label_skew rules


def single_label(counts: dict[str, dict[str, int]]) -> LabelSet:
    """Single-label set from ``{split: {class: n_images}}``."""
    classes = sorted({c for per in counts.values() for c in per})
    return LabelSet.from_label_lists(
        classes,
        {s: [[c] for c, n in per.items() for _ in range(n)] for s, per in counts.items()},
        multi_label=False,
    )


def test_gap_needs_significance_not_just_effect_size():
    # 30% vs 60% (h 0.61) on 20 images each is not significant at alpha 0.01 / 2 tests.
    small = single_label({"train": {"cat": 6, "dog": 14}, "val": {"cat": 12, "dog": 8}})
    assert not by_check(check_label_skew(small), "label_skew.prevalence_gap")
    big = single_label({"train": {"cat": 600, "dog": 1400}, "val": {"cat": 1200, "dog": 800}})
    gaps = by_check(check_label_skew(big), "label_skew.prevalence_gap")
    assert {f.subject for f in gaps} == {"cat", "dog"}
    assert all(f.severity.value == "error" for f in gaps)


def test_absent_in_test_split_is_named_for_every_pair():
    labels = single_label(
        {
            "train": {"cat": 500, "dog": 450, "fox": 50},
            "val": {"cat": 100, "dog": 92, "fox": 8},
            "test": {"cat": 110, "dog": 90},
        }
    )
    absent = by_check(check_label_skew(labels), "label_skew.absent_in_split")
    assert {(f.subject, f.evidence["reference_split"], f.evidence["split"]) for f in absent} == {
        ("fox", "train", "test")
    }  # val's 8 of 200 fox images predict a lower bound of 4.1 in test: not enough alone
    twin = single_label(
        {
            "train": {"cat": 500, "dog": 450, "fox": 50},
            "val": {"cat": 100, "dog": 90, "fox": 10},
            "test": {"cat": 100, "dog": 90, "fox": 10},
        }
    )
    assert [f.check for f in check_label_skew(twin)] == ["label_skew.summary"]


def test_labels_per_image_shift_fires_and_twin_is_silent():
    rng = np.random.default_rng(3)
    classes = [f"c{i}" for i in range(6)]

    def images(n: int, k_choices: list[int]) -> list[list[str]]:
        return [list(rng.choice(classes, rng.choice(k_choices), replace=False)) for _ in range(n)]

    shifted = LabelSet.from_label_lists(
        classes, {"train": images(3000, [2, 3]), "val": images(600, [1, 2])}, multi_label=True
    )
    (f,) = by_check(check_label_skew(shifted), "label_skew.labels_per_image")
    assert f.subject == "train vs val" and f.severity.value == "warning"
    assert f.evidence["mean_a"] == pytest.approx(2.5, abs=0.1)
    assert f.evidence["mean_b"] == pytest.approx(1.5, abs=0.1)
    assert "annotation protocol" in f.hint
    same = LabelSet.from_label_lists(
        classes, {"train": images(3000, [2, 3]), "val": images(600, [2, 3])}, multi_label=True
    )
    assert not by_check(check_label_skew(same), "label_skew.labels_per_image")


# --------------------------------------------------------------------------- literature metrics


def test_label_distribution_and_friends_match_hand_computed_values():
    # One class; S1: 2 of 10 positive, S2: 6 of 10; D: 8 of 20.
    # LD = (|2/8 - 8/12| + |6/4 - 8/12|) / 2 = (5/12 + 10/12) / 2 = 0.625.
    s1 = SplitCounts(10, [2], np.bincount([1] * 2 + [0] * 8))
    s2 = SplitCounts(10, [6], np.bincount([1] * 6 + [0] * 4))
    assert label_distribution({"a": s1, "b": s2}) == (pytest.approx(0.625), 0)
    # ED: desired 80/20 of 20 images = 16 and 4; |10-16| and |10-4| average to 6.
    assert example_distribution({"a": 10, "b": 10}, {"a": 0.8, "b": 0.2}) == pytest.approx(6.0)
    # FZ/FLZ: a class absent from one split counts; a class absent everywhere does not.
    z1, z2, z3 = SplitCounts(5, [3, 0, 0]), SplitCounts(5, [0, 1, 0]), SplitCounts(5, [2, 2, 0])
    assert zero_positive_counts({"a": z1, "b": z2, "c": z3}) == (2, 2)


def test_perfectly_stratified_split_has_zero_label_distribution():
    rng = np.random.default_rng(5)
    p = np.array([0.1, 0.25, 0.5, 0.75])
    labels = LabelSet(
        ["a", "b", "c", "d"],
        {"train": exact_multi_hot(10_000, p, rng), "val": exact_multi_hot(2_000, p, rng)},
        multi_label=True,
        target_fractions={"train": 0.8, "val": 0.2},
    )
    ld, undefined = label_distribution(labels.counts())
    assert ld == pytest.approx(0.0, abs=1e-12) and undefined == 0
    (summary,) = check_label_skew(labels)
    assert summary.evidence["ED"] == pytest.approx(400)  # 10k/2k vs 9.6k/2.4k desired of 12k


def test_wilson_interval_and_cohens_h_known_values():
    low, high = wilson_interval([0, 5], [10, 10])
    assert low[0] == 0 and high[0] == pytest.approx(0.2775, abs=1e-4)  # rule-of-three territory
    assert (low[1], high[1]) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert cohens_h(0.5, 0.25) == pytest.approx(-np.pi / 6)


def test_two_proportion_pvalue_matches_scipy_references():
    # Large counts: the z-test equals the uncorrected chi-square test of the 2x2 table.
    p_z = two_proportion_pvalue([300], 1000, [360], 1000)[0]
    assert p_z == pytest.approx(chi2_contingency([[300, 700], [360, 640]], correction=False)[1])
    # Small counts: Fisher's exact test.
    p_f = two_proportion_pvalue([1], 40, [7], 40)[0]
    assert p_f == pytest.approx(fisher_exact([[1, 39], [7, 33]])[1])


@needs_tfdv
def test_linf_and_js_match_tfdv(tmp_path):
    import tensorflow_data_validation as tfdv

    rng = np.random.default_rng(11)
    names = ["a", "b", "c", "d"]
    train = [list(rng.choice(names, rng.integers(1, 4), replace=False, p=[0.4, 0.3, 0.2, 0.1])) for _ in range(300)]
    val = [list(rng.choice(names, rng.integers(1, 3), replace=False, p=[0.1, 0.2, 0.3, 0.4])) for _ in range(120)]
    stats = {
        split: tfdv.generate_statistics_from_dataframe(
            pd.DataFrame({"labels": [np.array(x, dtype=object) for x in rows]})
        )
        for split, rows in (("train", train), ("val", val))
    }
    schema = tfdv.infer_schema(stats["train"])
    feature = tfdv.get_feature(schema, "labels")
    feature.skew_comparator.infinity_norm.threshold = 0.0001
    feature.skew_comparator.jensen_shannon_divergence.threshold = 0.0001
    anomalies = tfdv.validate_statistics(stats["train"], schema, serving_statistics=stats["val"])
    description = anomalies.anomaly_info["labels"].description
    measured = {m.type: m.value for m in anomalies.drift_skew_info[0].skew_measurements}

    counts = LabelSet.from_label_lists(names, {"train": train, "val": val}, multi_label=True).counts()
    linf, at = linf_distance(counts["train"].positives, counts["val"].positives)
    js = jensen_shannon_divergence(counts["train"].positives, counts["val"].positives)
    assert f"Linfty distance between training and serving is {linf:.6g}" in description
    assert f"maximum difference is: {names[at]}" in description
    assert f"Jensen-Shannon divergence between training and serving is {js:.6g}" in description
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kinds = anomalies_pb2.DriftSkewInfo.Measurement
    assert measured[kinds.L_INFTY] == pytest.approx(linf, rel=1e-9)
    assert measured[kinds.JENSEN_SHANNON_DIVERGENCE] == pytest.approx(js, rel=1e-9)


# --------------------------------------------------------------------------- LabelSet construction


def test_from_table_reads_lists_delimited_strings_and_empties_alike():
    as_lists = pd.DataFrame(
        {"labels": [["cat", "dog"], ["dog"], [], ["fox"]], "split": ["train", "train", "val", "val"]}
    )
    as_text = pd.DataFrame({"labels": ["cat|dog", "dog", None, " fox "], "split": ["train", "train", "val", "val"]})
    a = LabelSet.from_table(as_lists, "labels", "split")
    b = LabelSet.from_table(as_text, "labels", "split", sep="|")
    assert a.multi_label and b.multi_label
    for x in (a, b):
        assert x.classes == ["cat", "dog", "fox"]
        assert x.counts()["train"].positives.tolist() == [1, 2, 0]
        assert x.counts()["val"].cardinality.tolist() == [1, 1]
    plain = LabelSet.from_table(pd.DataFrame({"y": ["cat", "cat|dog"]}), "y", None)
    assert not plain.multi_label and plain.classes == ["cat", "cat|dog"]
    assert list(plain.counts()) == ["train"]


def test_label_table_split_names_use_the_builds_aliases():
    from pipecheck.validators.labels import LabelSet

    df = pd.DataFrame({"label": ["a", "b"] * 6, "split": ["train"] * 8 + ["Validation "] * 2 + ["dev"] * 2})
    labels = LabelSet.from_table(df, "label", "split")
    assert sorted(labels.splits) == ["train", "val"]
    assert labels.counts()["val"].n_images == 4


def test_split_counts_stream_equals_whole_matrix():
    rng = np.random.default_rng(9)
    m = rng.random((1000, 30)) < 0.1
    streamed = SplitCounts.empty(30)
    for start in range(0, 1000, 128):
        streamed.update(sp.csr_matrix(m[start : start + 128]))
    whole = SplitCounts.from_matrix(m)
    assert streamed.n_images == whole.n_images == 1000
    assert np.array_equal(streamed.positives, m.sum(axis=0))
    assert np.array_equal(streamed.cardinality, np.bincount(m.sum(axis=1)))
    assert np.array_equal(whole.cardinality, streamed.cardinality)


# --------------------------------------------------------------------------- class_counts


def test_too_few_train_and_val_fire_and_twin_is_silent():
    findings = check_class_counts(
        single_label({"train": {"cat": 500, "dog": 500, "fox": 60}, "val": {"cat": 50, "dog": 4, "fox": 30}})
    )
    (few_train,) = by_check(findings, "class_counts.too_few_train")
    assert few_train.subject == "fox" and few_train.evidence["counts"] == {"train": 60, "val": 30}
    assert "bottleneck" in few_train.hint
    (few_val,) = by_check(findings, "class_counts.too_few_val")
    assert few_val.subject == "dog" and "4 val images" in few_val.message
    assert "pipecheck split" in few_val.hint
    healthy = single_label({"train": {"cat": 500, "dog": 500, "fox": 150}, "val": {"cat": 50, "dog": 40, "fox": 30}})
    assert check_class_counts(healthy) == []


def test_missing_in_train_empty_and_out_of_vocabulary():
    labels = LabelSet.from_label_lists(
        ["cat", "dog", "owl", "eel"],
        {"train": [["cat"]] * 200 + [["dog"]] * 200, "val": [["cat"]] * 20 + [["owl"]] * 20 + [["yak"]] * 3},
        multi_label=False,
    )
    findings = check_class_counts(labels)
    (missing,) = by_check(findings, "class_counts.missing_in_train")
    assert missing.subject == "owl" and missing.severity.value == "error"
    (empty,) = by_check(findings, "class_counts.empty_class")
    assert empty.subject == "eel" and "vocabulary" in empty.hint
    (oov,) = by_check(findings, "class_counts.out_of_vocabulary")
    assert oov.subject == "yak" and oov.evidence["labels"] == {"yak": 3}
    assert {f.check for f in findings} >= {"class_counts.too_few_val"}  # dog: 0 val images
    twin = LabelSet.from_label_lists(
        ["cat", "dog", "owl"],
        {
            "train": [["cat"]] * 200 + [["dog"]] * 200 + [["owl"]] * 200,
            "val": [["cat"]] * 20 + [["dog"]] * 20 + [["owl"]] * 20,
        },
        multi_label=False,
    )
    assert check_class_counts(twin) == []


def test_imbalance_suggests_weights_and_twin_is_silent():
    labels = single_label({"train": {"cat": 2000, "dog": 100}, "val": {"cat": 200, "dog": 20}})
    (f,) = by_check(check_class_counts(labels), "class_counts.imbalance")
    assert f.subject == "dog" and f.evidence["ratio"] == pytest.approx(20)
    # scikit-learn "balanced": n / (K * n_c) = 2100 / (2 * 100).
    assert f.evidence["weight_kind"] == "class_weight"
    assert f.evidence["suggested_weights"] == {"dog": pytest.approx(10.5)}
    assert "class_weight" in f.hint and "dog 10.5" in f.hint
    assert suggest_class_weights(labels) == {"cat": pytest.approx(0.525), "dog": pytest.approx(10.5)}
    assert suggest_class_weights(labels, by_index=True) == {0: pytest.approx(0.525), 1: pytest.approx(10.5)}
    twin = single_label({"train": {"cat": 1000, "dog": 500}, "val": {"cat": 100, "dog": 50}})
    assert not by_check(check_class_counts(twin), "class_counts.imbalance")


def test_imbalance_on_seed_002_suggests_pos_weight():
    labels = seed_002()
    (f,) = by_check(check_class_counts(labels), "class_counts.imbalance")
    assert f.evidence["weight_kind"] == "pos_weight" and f.subject.startswith("obj_13, obj_14")
    w = suggest_pos_weight(labels)
    train = labels.counts()["train"]
    assert w[CLASSES.index("obj_1")] == pytest.approx((N_TRAIN - train.positives[0]) / train.positives[0])
    assert f.evidence["suggested_weights"]["obj_1"] == pytest.approx(w[0], abs=1e-3)
    assert "pos_weight" in f.hint and suggest_pos_weight(labels, cap=50.0).max() == 50.0


def test_unlabeled_images_by_task_type():
    rows = {"train": [["cat"]] * 150 + [[]] * 5 + [["dog"]] * 150, "val": [["cat"]] * 20 + [["dog"]] * 20}
    single = check_class_counts(LabelSet.from_label_lists(None, rows, multi_label=False))
    (f,) = by_check(single, "class_counts.unlabeled_images")
    assert f.subject == "train" and f.severity.value == "error" and f.evidence["unlabeled"] == 5
    assert "--allow-empty" in f.hint
    multi = check_class_counts(LabelSet.from_label_lists(None, rows, multi_label=True))
    assert [g.severity.value for g in by_check(multi, "class_counts.unlabeled_images")] == ["info"]
    allowed = LabelSet.from_label_lists(None, rows, multi_label=True, allow_empty=True)
    assert check_class_counts(allowed) == []
    rows["train"] = [r for r in rows["train"] if r]
    assert check_class_counts(LabelSet.from_label_lists(None, rows, multi_label=False)) == []


def test_multiple_labels_on_single_label_data():
    rows = {"train": [["cat"]] * 150 + [["cat", "dog"]] * 3 + [["dog"]] * 150, "val": [["cat"]] * 20 + [["dog"]] * 20}
    (f,) = check_class_counts(LabelSet.from_label_lists(None, rows, multi_label=False))
    assert f.check == "class_counts.multiple_labels_single_label_data"
    assert f.subject == "train" and f.evidence["multi_labelled"] == 3 and "sigmoid" in f.hint
    assert check_class_counts(LabelSet.from_label_lists(None, rows, multi_label=True)) == []


def test_seed_001_thousand_small_classes_warn_once_aggregated():
    # ~100 images in each of 1000 plant classes, split 80/20 per class.
    rng = np.random.default_rng(1)
    sizes = rng.integers(90, 111, size=1000)
    classes = [f"plant_{i:04d}" for i in range(1000)]
    train, val = [], []
    for c, n in zip(classes, sizes):
        n_val = int(round(n * 0.2))
        val += [[c]] * n_val
        train += [[c]] * (n - n_val)
    findings = check_class_counts(LabelSet.from_label_lists(classes, {"train": train, "val": val}, multi_label=False))
    (f,) = findings
    assert f.check == "class_counts.too_few_train" and f.severity.value == "warning"
    assert f.evidence["n_classes"] == 1000 and len(f.evidence["worst"]) == 20
    smallest = classes[int(np.argmin(sizes))]
    assert f.subject.startswith(smallest) and f.subject.endswith("(+980 more)")
    assert "1000 classes have fewer than 100 train images" in f.message
    skew = check_label_skew(LabelSet.from_label_lists(classes, {"train": train, "val": val}, multi_label=False))
    assert [g.check for g in skew] == ["label_skew.summary"]


def test_thresholds_are_honoured():
    labels = single_label({"train": {"cat": 500, "dog": 60}, "val": {"cat": 50, "dog": 30}})
    assert by_check(check_class_counts(labels), "class_counts.too_few_train")
    assert not check_class_counts(labels, LabelThresholds(min_train=50))


def test_every_label_check_is_declared_and_findings_serialise():
    import json

    # registry.get raises for an undeclared id; importing labels must declare both families.
    for check_id in {
        "label_skew.absent_in_split",
        "label_skew.prevalence_gap",
        "label_skew.labels_per_image",
        "label_skew.summary",
        "class_counts.too_few_train",
        "class_counts.too_few_val",
        "class_counts.missing_in_train",
        "class_counts.empty_class",
        "class_counts.out_of_vocabulary",
        "class_counts.imbalance",
        "class_counts.unlabeled_images",
        "class_counts.multiple_labels_single_label_data",
    }:
        assert registry.get(check_id).hint
    labels = seed_002()
    for f in check_label_skew(labels) + check_class_counts(labels):
        json.dumps(f.to_dict())
