"""Class-sorted batches (issue 15, item 3): a training source that never shuffles and reads its files
class by class. Real Keras ``flow_from_directory`` and a real ``tf.data`` pipeline over a folder of
tiny PNGs in class subfolders, each next to the same source shuffled; then the cases that must stay
silent (batch size 1, one class, small passes, evaluation sources, nearly unique labels)."""

from pathlib import Path

import numpy as np
import pytest

from pipecheck.validators import registry
from pipecheck.validators.generator import check_generator
from pipecheck.validators.sources import Source, load_source

HERE = Path(__file__).parent
SORTED = "generator.class_sorted_batches"


@pytest.fixture(autouse=True)
def _cases_dir(monkeypatch):
    monkeypatch.chdir(HERE)
    monkeypatch.syspath_prepend(str(HERE))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """``train/`` and ``val/``, each with 3 class subfolders of 12 distinct 8x8 PNGs."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog", "fox"):
            (root / split / cls).mkdir(parents=True)
            for i in range(12):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                    root / split / cls / f"{i:02d}.png"
                )
    return root


def run(spec, *args):
    return check_generator(load_source(f"generator_cases:{spec}", args))


def checks(findings):
    return {f.check for f in findings}


@pytest.mark.parametrize("spec", ["directory_flow", "sorted_files"])
def test_unshuffled_class_folders_fire_and_the_shuffled_twin_is_silent(folders, spec):
    found = run(spec, f"root={folders / 'train'}")
    assert checks(found) == {SORTED}
    (f,) = found
    assert f.severity.value == "warning" and f.hint == registry.get(SORTED).hint
    assert "shuffle=True" in f.hint and ".shuffle(len(files))" in f.hint
    ev = f.evidence
    assert (ev["batches_judged"], ev["batch_size"], ev["labels_in_pass"], ev["samples"]) == (9, 4, 3, 36)
    assert ev["mean_distinct"] == 1.0 and ev["mean_distinct_if_shuffled"] > 2.4
    assert checks(run(spec, f"root={folders / 'train'}", "shuffle=true")) == set()


def test_an_evaluation_source_in_file_order_is_normal(folders):
    # flow_from_directory(shuffle=False) on val/ is the usual way to evaluate: no warning.
    assert checks(run("directory_flow", f"root={folders / 'val'}")) == set()


def _list_source(y, bs, name="train"):
    x = np.arange(len(y), dtype="float32").reshape(-1, 1)
    batches = [(x[i : i + bs], y[i : i + bs]) for i in range(0, len(y), bs)]
    return Source(spec=f"mem:{name}", obj=batches, factory=lambda: batches)


def fires(y, bs, name="train"):
    return SORTED in checks(check_generator(_list_source(np.asarray(y), bs, name)))


def test_silent_where_order_says_nothing_or_the_source_is_for_evaluation():
    two = np.repeat([0, 1], 30)
    assert fires(two, 4)  # the bug itself, as a list
    assert not fires(two, 1)  # batch size 1: every batch holds one class anyway
    assert not fires(np.zeros(60, int), 4)  # a single class
    assert not fires(np.repeat([0, 1], 8), 4)  # 4 batches: too few to judge
    assert not fires(np.sort(np.random.default_rng(0).normal(size=60)), 4)  # regression targets
    assert not fires(two, 4, name="val_batches")


def test_multi_hot_labels_are_judged_by_label_set():
    rng = np.random.default_rng(1)
    y = (rng.random((120, 5)) < 0.3).astype("float32")
    assert not fires(y, 8)
    assert fires(y[np.lexsort(y.T[::-1])], 8)  # grouped by label set


def test_no_false_alarm_on_shuffled_passes_of_many_shapes():
    rng = np.random.default_rng(2)
    for classes, n, bs, skew in [(2, 24, 4, 1), (2, 60, 2, 1), (2, 300, 8, 20), (3, 60, 3, 1), (10, 300, 4, 20)]:
        p = np.r_[float(skew), np.ones(classes - 1)]
        for _ in range(15):
            y = rng.choice(classes, n, p=p / p.sum())
            assert not fires(y, bs), (classes, n, bs, skew)
