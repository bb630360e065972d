"""One vocabulary (issue 18 item 7): label modes (``LabelMode``) and split names and their order
(``split_order``), shared by the reader, the input checks, the training run and the label checks."""

from __future__ import annotations

import numpy as np
import pytest

from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.labels import LABEL_MODE_ALIASES, LabelMode
from pipecheck.pipeline.split import SPLIT_ALIASES, split_order

MODES = ("int", "categorical", "binary", "multi_hot")
# Every spelling some caller accepted before the one vocabulary: the reader's three, the training
# run's four, the input checks' eleven (and their case / hyphen variants).
OLD_SPELLINGS = {
    "int": "int",
    "categorical": "categorical",
    "multi_hot": "multi_hot",  # load_dataset(label_mode=)
    "binary": "binary",
    "multi_label": "multi_hot",  # run_train_check(label_mode=)
    "sparse": "int",
    "sparse_categorical": "int",
    "one_hot": "categorical",
    "onehot": "categorical",
    "multihot": "multi_hot",
    "multilabel": "multi_hot",  # validate's label checks
}


def test_every_alias_normalises_to_its_mode():
    assert set(OLD_SPELLINGS) == set(LABEL_MODE_ALIASES)
    for alias, mode in OLD_SPELLINGS.items():
        for spelling in (alias, alias.upper(), f" {alias.replace('_', '-')} "):
            got = LabelMode.normalize(spelling)
            assert got is LabelMode(mode), spelling
    assert [m.value for m in LabelMode] == list(MODES)
    for member in LabelMode:
        assert LabelMode.normalize(member) is member
        assert member == member.value and f"{member}" == member.value  # prints and compares as its name
    assert LabelMode.normalize(None) is None
    assert LabelMode.for_data(True) is LabelMode.MULTI_HOT and LabelMode.for_data(False) is LabelMode.CATEGORICAL


@pytest.mark.parametrize("bad", ["soft", "one-hotish", "single_label", "", 3])
def test_unknown_label_mode_is_one_line_naming_the_valid_values(bad):
    with pytest.raises(InputError) as info:
        LabelMode.normalize(bad)
    message = str(info.value)
    assert "\n" not in message and repr(bad) in message and "label_mode" in message
    assert all(mode in message for mode in MODES)


def test_the_callers_share_the_vocabulary():
    from pipecheck.validators.input_range.labels import normalize_label_mode

    assert normalize_label_mode("multi-label") is LabelMode.MULTI_HOT
    with pytest.raises(InputError, match="categorical"):
        normalize_label_mode("soft")


def test_reader_takes_every_spelling_and_refuses_an_unknown_one(mini_build):
    from pipecheck.pipeline.reader import load_dataset

    def labels(mode):
        ds = load_dataset(
            mini_build.out_dir,
            "train",
            image_size=16,
            batch_size=64,
            shuffle=False,
            deterministic=True,
            label_mode=mode,
        )
        return next(iter(ds.as_numpy_iterator()))[1]

    ids = labels("int")
    assert ids.ndim == 1 and ids.dtype == np.int64
    assert np.array_equal(labels("sparse"), ids)  # an alias the reader refused before
    one_hot = labels("One-Hot")
    assert one_hot.shape == (len(ids), 3) and np.array_equal(one_hot.argmax(1), ids)
    assert np.array_equal(labels(LabelMode.CATEGORICAL), one_hot)
    with pytest.raises(InputError) as info:
        load_dataset(mini_build.out_dir, "train", label_mode="soft")
    assert "\n" not in str(info.value) and "multi_hot" in str(info.value)
    with pytest.raises(InputError, match="two classes"):  # binary: one 0/1 column, two-class data only
        load_dataset(mini_build.out_dir, "train", label_mode="binary")


def test_reader_binary_mode_gives_one_float_column(h, tmp_path):
    from pipecheck.pipeline.reader import load_dataset

    for i in range(8):
        cls = ("cat", "dog")[i % 2]
        h.pair(tmp_path / "dump", f"{cls}{i}", {"species": cls}, h.image(32, 32, (40 * i, 90, 200), seed=i))
    result = h.build(tmp_path / "dump", tmp_path / "out", label_field="species", val_fraction=0)
    kw = {"image_size": 16, "batch_size": 8, "shuffle": False, "deterministic": True}
    ids = next(iter(load_dataset(result.out_dir, "train", label_mode="int", **kw).as_numpy_iterator()))[1]
    y = next(iter(load_dataset(result.out_dir, "train", label_mode="binary", **kw).as_numpy_iterator()))[1]
    assert y.shape == (8, 1) and y.dtype == np.float32
    assert np.array_equal(y[:, 0], ids.astype(np.float32)) and set(y[:, 0]) == {0.0, 1.0}


def test_split_order_train_val_test_then_the_rest():
    assert split_order(["fold_1", "test", "val", "train"]) == ["train", "val", "test", "fold_1"]
    assert split_order(["b", "a"]) == ["a", "b"]
    # Aliases sit with their split, after its canonical name, in SPLIT_ALIASES' order; names kept as given.
    mixed = ["holdout", "zz", "Eval", "dev", "validation", "valid", "val", "Training", "test", "a", "tr", "train"]
    assert split_order(mixed) == [
        "train",
        "Training",
        "tr",
        "val",
        "valid",
        "validation",
        "dev",
        "Eval",
        "test",
        "holdout",
        "a",
        "zz",
    ]
    assert all(SPLIT_ALIASES[n] in ("train", "val", "test") for n in SPLIT_ALIASES)


def test_one_split_order_everywhere():
    from pipecheck.pipeline import manifest
    from pipecheck.validators import labels

    names = ["test", "fold_1", "validation", "train", "val"]
    assert manifest.split_order(names) == labels.split_order(names) == split_order(names)
    # LabelSet counts splits in that order and finds train under an alias.
    ls = labels.LabelSet.from_label_lists(
        None, {"holdout": [["a"]], "Training": [["a"], ["b"]], "dev": [["b"]]}, multi_label=False
    )
    assert list(ls.counts()) == ["Training", "dev", "holdout"] and ls.train_split() == "Training"
    ls = labels.LabelSet.from_label_lists(None, {"tr": [["a"]], "other": [["a"], ["b"], ["a"]]}, multi_label=False)
    assert ls.train_split() == "tr"  # an alias of train, not the largest split
