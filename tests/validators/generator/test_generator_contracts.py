"""len() and row-count contracts (issue 15, item 2): a PyDataset whose len() promises batches that
__getitem__ cannot fill, and batches whose parts differ in count, each next to its healthy twin
(``generator_cases.LenContract``, real Keras PyDatasets loaded through ``--source``)."""

import json
from pathlib import Path

import pytest

from pipecheck.pipeline.errors import InputError
from pipecheck.validators import registry
from pipecheck.validators.generator import check_generator
from pipecheck.validators.sources import load_source

HERE = Path(__file__).parent
OVER = "generator.length_overpromised"
COUNT = "generator.batch_count_mismatch"
ENDLESS = {"generator.infinite_unsized"}


@pytest.fixture(autouse=True)
def _cases_dir(monkeypatch):
    monkeypatch.chdir(HERE)
    monkeypatch.syspath_prepend(str(HERE))


def run(spec, *args):
    return check_generator(load_source(f"generator_cases:{spec}", args))


def only(findings, check):
    hits = [f for f in findings if f.check == check]
    assert len(hits) == 1, [f.to_dict() for f in findings]
    assert hits[0].hint == registry.get(check).hint
    return hits[0]


# (check, bug, twin, what the twin may still hear)
PAIRS = [
    (OVER, ("len_contract", "len_bug=plus_one"), ("len_contract",), set()),
    (OVER, ("len_contract", "build=per_item"), ("len_contract", "build=per_item_clipped"), set()),
    (
        OVER,
        ("len_contract", "n=64", "build=stack", "len_bug=floor_plus_one"),
        ("len_contract", "n=64", "build=stack"),
        set(),
    ),
    (COUNT, ("len_contract", "pad=true"), ("len_contract",), set()),
    (COUNT, ("weighted", "short_weights=true"), ("weighted",), ENDLESS),
]


@pytest.mark.parametrize("check,bug,twin,allowed", PAIRS, ids=[" ".join(p[1][1:]) for p in PAIRS])
def test_contract_bug_fires_alone_and_its_twin_is_silent(check, bug, twin, allowed):
    found = run(*bug)
    only(found, check)
    assert {f.check for f in found} - allowed == {check}  # no echo (shape_changed, duplicates) beside it
    assert {f.check for f in run(*twin)} <= allowed


def test_an_empty_batch_inside_len_is_named_with_the_short_one_before_it():
    f = only(run("len_contract", "len_bug=plus_one"), OVER)
    assert f.severity.value == "error"
    assert (f.evidence["length"], f.evidence["batch"], f.evidence["first_short_batch"]) == (9, 8, 7)
    assert f.evidence["ceil_samples_over_batch"] == 8
    assert "len() says 9 batches but batch 8 is empty" in f.message
    assert "math.ceil" in f.hint


def test_a_batch_that_raises_past_the_data_is_evidence_not_a_crash():
    f = only(run("len_contract", "build=per_item"), OVER)
    assert (f.evidence["length"], f.evidence["batch"]) == (8, 7)
    assert f.evidence["error"].startswith("IndexError")
    g = only(run("len_contract", "n=64", "build=stack", "len_bug=floor_plus_one"), OVER)
    assert (g.evidence["length"], g.evidence["batch"]) == (9, 8) and g.evidence["error"].startswith("ValueError")


def test_a_real_crash_early_in_the_pass_is_still_an_input_error(tmp_path, monkeypatch):
    (tmp_path / "contractmod_broken.py").write_text(
        "import keras, numpy as np\n"
        "class Broken(keras.utils.PyDataset):\n"
        "    def __len__(self):\n        return 4\n"
        "    def __getitem__(self, i):\n"
        "        if i == 1:\n            raise RuntimeError('disk gone')\n"
        "        return np.zeros((8, 2)), np.zeros(8)\n"
        "def data():\n    return Broken()\n"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"producing batch 1 raised RuntimeError: disk gone") as exc:
        check_generator(load_source("contractmod_broken:data", ()))
    assert "\n" not in str(exc.value)


def test_a_short_last_batch_is_healthy_and_a_short_middle_batch_stays_shape_changed():
    assert run("len_contract") == []  # 60 samples in 8 batches: the last holds 4
    import generator_cases as gc

    from pipecheck.validators.sources import Source

    x, y = gc.IMAGES, gc.CLASSES
    middle = [(x[0:8], y[0:8]), (x[8:12], y[8:12]), (x[12:20], y[12:20]), (x[20:24], y[20:24])]
    found = check_generator(Source(spec="mem:middle", obj=middle, factory=lambda: middle))
    assert {f.check for f in found} == {"generator.shape_changed"}


def test_mismatched_rows_name_the_batch_and_every_part():
    f = only(run("len_contract", "pad=true"), COUNT)
    assert f.evidence["batch"] == 7 and f.evidence["counts"] == {"x": 8, "y": 4}
    assert f.evidence["batches_affected"] == 1 and f.evidence["excess_rows"] == 4
    w = only(run("weighted", "short_weights=true"), COUNT)
    assert w.evidence["counts"] == {"x": 8, "y": 8, "sample_weight": 7}
    assert "same index range" in w.hint


def test_two_zipped_sources_for_a_custom_train_step_are_counted_side_by_side():
    """keras-io SimCLR / AdaMatch zip ((unlabelled images, -1s), (labelled images, labels)) with
    different batch sizes for their own train_step: each side must agree with itself, not with the
    other. A side whose own parts differ still fires. The images of both sides reach the range pass."""
    import numpy as np

    from pipecheck.validators.input_range import accumulate
    from pipecheck.validators.sources import Source

    rng = np.random.default_rng(0)

    def side(n, labelled=True):
        return rng.integers(0, 256, (n, 8, 8, 3)).astype("uint8"), (np.arange(n) % 3 if labelled else -np.ones(n, int))

    zipped = [(side(8, False), side(4)) for _ in range(4)]
    assert not [
        f for f in check_generator(Source(spec="mem:zip", obj=zipped, factory=lambda: zipped)) if f.check == COUNT
    ]
    stats = accumulate(iter(zipped))
    assert stats.images == 4 * (8 + 4)

    broken = [((x, y[:3]), side(4)) for (x, y), _ in zipped]
    f = only(check_generator(Source(spec="mem:broken", obj=broken, factory=lambda: broken)), COUNT)
    assert f.evidence["counts"] == {"x[0]": 8, "x[1]": 3, "y[0]": 4, "y[1]": 4}
    # Keras's (x, y) with a tuple x and plain labels stays one contract.
    multi = [((x, x[:, :4]), y[:7]) for (x, y), _ in zipped]
    assert only(check_generator(Source(spec="mem:multi", obj=multi, factory=lambda: multi)), COUNT)
    # A structure with no image in it is still a usage error, naming the batch.
    with pytest.raises(InputError, match="batch 0"):
        accumulate(iter([((np.zeros((2, 3)), np.zeros((2, 5))), np.zeros(2))]))


def test_cli_reports_an_overpromising_pydataset_instead_of_crashing():
    from click.testing import CliRunner

    from pipecheck.cli import cli

    result = CliRunner().invoke(
        cli,
        ["validate", "--source", "generator_cases:len_contract", "--source-arg", "build=per_item", "--format", "json"],
    )
    assert result.exit_code == 1, result.output
    found = {f["check"]: f for f in json.loads(result.stdout)["findings"]}
    assert found[OVER]["severity"] == "error" and found[OVER]["evidence"]["batch"] == 7


def _batched_then_shuffled(n_short: int):
    """image_dataset_from_directory(...).shuffle(n): whole batches shuffled, so the short one lands
    mid-pass (the TF image-classification tutorial). ``n_short`` batches are short, placed mid-pass
    the way such a shuffle places them (fixed here: the order ``shuffle(n, seed=...)`` gives depends
    on the global seed, which other tests set)."""
    import numpy as np
    import tensorflow as tf

    sizes = {1: [8, 8, 3, 8, 8, 8], 2: [8, 3, 8, 8, 3, 8, 8]}[n_short]
    x = np.random.default_rng(0).random((sum(sizes), 8, 8, 3)).astype("float32")
    parts, start = [], 0
    for s in sizes:
        parts.append(tf.data.Dataset.from_tensors((x[start : start + s], np.zeros(s, "int64"))))
        start += s
    ds = parts[0]
    for p in parts[1:]:
        ds = ds.concatenate(p)
    return ds


def test_tf_data_shuffling_whole_batches_moves_the_short_one_and_is_healthy():
    from pipecheck.validators.generator import check_generator
    from pipecheck.validators.sources import load_source

    one = check_generator(load_source(_batched_then_shuffled(1)), batches=20)
    assert "generator.shape_changed" not in {f.check for f in one}
    two = check_generator(load_source(_batched_then_shuffled(2)), batches=20)
    assert "generator.shape_changed" in {f.check for f in two}
