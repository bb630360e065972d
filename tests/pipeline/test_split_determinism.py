"""Split quality (iterative stratification vs ``MultilabelStratifiedShuffleSplit``, groups kept whole)
and build determinism (same seed: byte-identical shards and manifest; other seed: other split)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

from pipecheck.pipeline.split import iterative_split

TIMING_FIELDS = {"created_unix", "build_seconds"}


def _prevalence_gap(Y: np.ndarray, splits) -> tuple[float, float]:
    """Mean and max over classes of |prevalence(val) - prevalence(train)|."""
    s = np.asarray(splits)
    gap = np.abs(Y[s == "train"].mean(0) - Y[s == "val"].mean(0))
    return float(gap.mean()), float(gap.max())


def _msss(Y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    _, val = next(
        MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed).split(np.zeros(len(Y)), Y)
    )
    out = np.array(["train"] * len(Y), dtype=object)
    out[val] = "val"
    return out


def _synthetic(seed: int, grouped: bool):
    """Multi-label rows (8 classes from 50% down to 5% prevalence); grouped rows share their labels."""
    rng = np.random.default_rng(seed)
    p = np.array([0.5, 0.3, 0.2, 0.1, 0.05, 0.4, 0.15, 0.25])
    if not grouped:
        return (rng.random((600, len(p))) < p).astype(int), None
    rows, groups = [], []
    for g in range(250):
        base = rng.random(len(p)) < p
        for _ in range(rng.integers(1, 5)):
            r = base.copy()
            if rng.random() < 0.2:
                r[rng.integers(len(p))] ^= True
            rows.append(r)
            groups.append(f"G{g:03d}")
    return np.array(rows, dtype=int), groups


def test_multilabel_stratification_matches_msss_baseline():
    ours, baseline = [], []
    for seed in range(3):
        Y, _ = _synthetic(seed, grouped=False)
        labels = [list(np.flatnonzero(r)) for r in Y]
        splits = iterative_split(labels, {"train": 0.8, "val": 0.2}, seed=seed)
        assert abs(splits.count("val") / len(Y) - 0.2) <= 0.01
        mean_gap, max_gap = _prevalence_gap(Y, splits)
        assert max_gap < 0.02
        ours.append(mean_gap)
        baseline.append(_prevalence_gap(Y, _msss(Y, 0.2, seed))[0])
    assert np.mean(ours) <= 1.25 * np.mean(baseline) + 0.002, (ours, baseline)


def test_grouped_stratification_keeps_groups_and_beats_group_level_msss():
    ours, baseline = [], []
    for seed in range(3):
        Y, groups = _synthetic(seed, grouped=True)
        labels = [list(np.flatnonzero(r)) for r in Y]
        splits = iterative_split(labels, {"train": 0.8, "val": 0.2}, groups=groups, seed=seed)
        split_of: dict[str, set] = {}
        for g, s in zip(groups, splits):
            split_of.setdefault(g, set()).add(s)
        assert all(len(v) == 1 for v in split_of.values()), "a group was split across train/val"
        assert abs(splits.count("val") / len(Y) - 0.2) <= 0.02
        ours.append(_prevalence_gap(Y, splits)[0])
        # Baseline: MSSS over whole groups (a group carries the union of its members' labels).
        names = sorted(split_of)
        GY = np.zeros((len(names), Y.shape[1]), dtype=int)
        for g, row in zip(groups, Y):
            GY[names.index(g)] |= row
        group_split = dict(zip(names, _msss(GY, 0.2, seed)))
        baseline.append(_prevalence_gap(Y, [group_split[g] for g in groups])[0])
    assert np.mean(ours) <= np.mean(baseline), (ours, baseline)


def test_split_is_independent_of_input_order():
    Y, groups = _synthetic(4, grouped=True)
    labels = [list(np.flatnonzero(r)) for r in Y]
    keys = [f"img_{i:04d}" for i in range(len(Y))]
    first = iterative_split(labels, {"train": 0.9, "val": 0.1}, groups=groups, keys=keys, seed=2)
    perm = np.random.default_rng(0).permutation(len(Y))
    second = iterative_split(
        [labels[i] for i in perm],
        {"train": 0.9, "val": 0.1},
        groups=[groups[i] for i in perm],
        keys=[keys[i] for i in perm],
        seed=2,
    )
    assert [second[list(perm).index(i)] for i in range(len(Y))] == first


def test_sample_multilabel_build_is_stratified_and_grouped(h, sample_multilabel_build):
    result = sample_multilabel_build
    manifest = result.manifest
    classes = manifest["classes"]
    assert classes == ["animal", "artificial", "food", "indoor", "outdoor", "plant", "sky"]
    recs = h.records(result.out_dir)
    Y = np.zeros((len(recs), len(classes)), dtype=int)
    for i, rec in enumerate(recs):
        Y[i, rec["label/index"]] = 1
    splits = [rec["_split"] for rec in recs]
    # The manifest's class counts are the records' counts.
    for split, info in manifest["splits"].items():
        rows = Y[np.asarray(splits) == split]
        assert info["class_counts"] == dict(zip(classes, rows.sum(0).tolist()))
    # Specimens are never split.
    split_of: dict[str, set] = {}
    for rec in recs:
        split_of.setdefault(rec["meta/specimen"][0], set()).add(rec["_split"])
    assert len(split_of) == 85 and all(len(v) == 1 for v in split_of.values())
    # Quality against baselines that keep specimens whole: MSSS over specimens (a specimen carries
    # the union of its images' tags) and a random specimen split, each averaged over 5 seeds.
    groups = [rec["meta/specimen"][0] for rec in recs]
    names = sorted(split_of)
    GY = np.zeros((len(names), len(classes)), dtype=int)
    for g, row in zip(groups, Y):
        GY[names.index(g)] |= row
    msss, rand = [], []
    for seed in range(5):
        by_group = dict(zip(names, _msss(GY, 0.1, seed)))
        msss.append(_prevalence_gap(Y, [by_group[g] for g in groups])[0])
        val_groups = set(np.random.default_rng(seed).permutation(names)[: round(0.1 * len(names))])
        rand.append(_prevalence_gap(Y, ["val" if g in val_groups else "train" for g in groups])[0])
    ours_mean, ours_max = _prevalence_gap(Y, splits)
    assert ours_mean <= 1.1 * np.mean(msss), (ours_mean, msss)
    assert ours_mean <= 0.6 * np.mean(rand), (ours_mean, rand)
    assert ours_max < 0.12
    # Classes with at least 20 images reach val (rare 'food' sits in 4 specimens: it may not).
    common = Y.sum(0) >= 20
    assert common.sum() == 6
    assert (Y[np.asarray(splits) == "val"].sum(0)[common] >= 2).all()


def test_single_label_sample_every_class_in_val_and_groups_whole(h, sample_build):
    val_counts = sample_build.manifest["splits"]["val"]["class_counts"]
    assert all(v >= 1 for v in val_counts.values()), val_counts
    n_val = sample_build.manifest["splits"]["val"]["examples"]
    assert 0.05 <= n_val / sample_build.accounting["written"] <= 0.15
    split_of: dict[str, set] = {}
    for rec in h.records(sample_build.out_dir):
        split_of.setdefault(rec["meta/specimen"][0], set()).add(rec["_split"])
    assert all(len(v) == 1 for v in split_of.values())


# --- determinism ----------------------------------------------------------------------------


def _shards(out: str | Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(out).glob("*.tfrecord"))}


def _manifest_without_timing(out: str | Path) -> dict:
    m = json.loads((Path(out) / "dataset.json").read_text())
    return {k: v for k, v in m.items() if k not in TIMING_FIELDS}


def _val_ids(h, out) -> set[str]:
    return {k for k, r in h.by_id(out).items() if r["_split"] == "val"}


@pytest.fixture(scope="module")
def seeded_builds(h, mini_dump, tmp_path_factory):
    base = tmp_path_factory.mktemp("determinism")
    kw = dict(label_field="species", group_field="group", val_fraction=0.25, shard_size_mb=0.01)
    first = h.build(mini_dump, base / "a", seed=5, **kw)
    second = h.build(mini_dump, base / "b", seed=5, **kw)
    parallel = h.build(mini_dump, base / "c", seed=5, workers=2, **kw)
    other = h.build(mini_dump, base / "d", seed=6, **kw)
    return first, second, parallel, other


def test_same_seed_gives_byte_identical_shards_and_manifest(seeded_builds):
    first, second, parallel, _ = seeded_builds
    a = _shards(first.out_dir)
    assert len(a) > 2, "the test needs several shards per build"
    assert a == _shards(second.out_dir)
    assert a == _shards(parallel.out_dir), "the output must not depend on --workers"
    assert _manifest_without_timing(first.out_dir) == _manifest_without_timing(second.out_dir)
    assert _manifest_without_timing(first.out_dir) == _manifest_without_timing(parallel.out_dir)
    assert (Path(first.out_dir) / "rejects.jsonl").read_bytes() == (Path(second.out_dir) / "rejects.jsonl").read_bytes()


def test_different_seed_gives_a_different_split(h, seeded_builds):
    first, _, _, other = seeded_builds
    assert _val_ids(h, first.out_dir) != _val_ids(h, other.out_dir)
    assert first.manifest["classes"] == other.manifest["classes"]
    assert sorted(h.by_id(first.out_dir)) == sorted(h.by_id(other.out_dir))
