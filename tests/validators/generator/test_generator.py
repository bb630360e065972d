"""Generator family: each bug as a real batch source next to its fixed twin (``generator_cases.py``),
loaded the way ``--source`` loads it; seed 001's generator as written in the seed is the first case."""

import json
import textwrap
from pathlib import Path

import pytest

from pipecheck.validators import registry
from pipecheck.validators.generator import check_generator, check_generator_static
from pipecheck.validators.sources import load_source

HERE = Path(__file__).parent
CASES = HERE / "generator_cases.py"
ENDLESS = {"generator.infinite_unsized"}  # what an endless but healthy generator may still hear


@pytest.fixture(autouse=True)
def _cases_dir(monkeypatch):
    monkeypatch.chdir(HERE)


def run(spec, *args, **kw):
    return check_generator(load_source(f"generator_cases:{spec}", args), batches=kw.pop("batches", 50), **kw)


def ids(findings):
    return {f.check for f in findings}


def only(findings, check):
    hits = [f for f in findings if f.check == check]
    assert len(hits) == 1, [f.to_dict() for f in findings]
    assert hits[0].hint == registry.get(check).hint
    return hits[0]


def line_of(text):
    lines = CASES.read_text().splitlines()
    found = [i + 1 for i, line in enumerate(lines) if line.strip() == text]
    assert len(found) >= 1, text
    return found


# (check id, bug source, fixed twin, allowed extra findings on the twin)
PAIRS = [
    ("generator.same_batch_repeated", ("seed001_train_batches",), ("fixed_batches",), ENDLESS),
    ("generator.few_distinct_batches", ("make", "name=cycling"), ("make", "name=stepping"), ENDLESS),
    ("generator.buffer_mutated", ("make", "name=reused_buffer"), ("make", "name=copied_buffer"), ENDLESS),
    ("generator.samples_skipped", ("yield_in_loop_batches",), ("fixed_batches",), ENDLESS),
    ("generator.samples_skipped", ("pydataset", "floor=true"), ("pydataset",), set()),
    ("generator.duplicate_samples", ("make", "name=with_replacement"), ("make", "name=permuted"), ENDLESS),
    ("generator.labels_misaligned", ("make", "name=images_only_shuffled"), ("make", "name=shuffled_together"), ENDLESS),
    (
        "generator.labels_misaligned",
        ("pydataset", "shuffle=true", "misalign=true"),
        ("pydataset", "shuffle=true"),
        set(),
    ),
    ("generator.shape_changed", ("make", "name=size_drift"), ("make", "name=stepping"), ENDLESS),
    ("generator.dtype_changed", ("make", "name=dtype_drift"), ("make", "name=steady_float"), ENDLESS),
    ("generator.infinite_unsized", ("make", "name=stepping"), ("pydataset",), set()),
    ("generator.infinite_unsized", ("tf_dataset", "repeat=true"), ("tf_dataset",), set()),
    ("generator.not_shuffled", ("make", "name=ignores_shuffle"), ("make", "name=honours_shuffle"), ENDLESS),
    ("generator.not_shuffled", ("pydataset", "shuffle=true", "reshuffle=false"), ("pydataset", "shuffle=true"), set()),
    ("generator.not_shuffled", ("tf_dataset", "reshuffle=false"), ("tf_dataset",), set()),
]


@pytest.mark.parametrize("check,bug,twin,allowed", PAIRS, ids=[f"{p[0]}-{p[1][-1]}" for p in PAIRS])
def test_bug_fires_and_fixed_twin_stays_silent(check, bug, twin, allowed):
    only(run(*bug), check)
    assert ids(run(*twin)) <= allowed


def test_seed001_generator_as_written_yields_one_batch_forever():
    found = run("seed001_train_batches")
    f = only(found, "generator.same_batch_repeated")
    assert f.severity.value == "error"
    assert f.evidence["distinct_batches"] == 1 and f.evidence["steps"] == 50
    assert "yield" in f.hint
    # Its skipped tail is a consequence of the repetition here; the static check names it instead.
    assert ids(found) == {"generator.same_batch_repeated", "generator.infinite_unsized"}


def test_tail_drop_evidence_counts_samples_seen_against_the_data_set():
    f = only(run("yield_in_loop_batches"), "generator.samples_skipped")
    assert (f.evidence["samples_seen"], f.evidence["dataset_size"], f.evidence["batch_size"]) == (56, 64, 8)
    g = only(run("pydataset", "floor=true"), "generator.samples_skipped")
    assert (g.evidence["length_x_batch"], g.evidence["dataset_size"]) == (56, 60)
    assert "math.ceil" in g.hint


def test_few_distinct_is_an_error_when_a_pass_holds_a_quarter_or_less():
    f = only(run("make", "name=cycling"), "generator.few_distinct_batches")
    assert f.evidence["distinct_in_pass"] == 2 and f.evidence["pass_steps"] == 8
    assert f.severity.value == "error"


def test_buffer_mutation_names_the_batch_that_changed():
    f = only(run("make", "name=reused_buffer"), "generator.buffer_mutated")
    assert f.evidence == {"batch": 0, "noticed_at": 1}
    assert "copy()" in f.hint


def test_misaligned_labels_report_examples_from_the_traced_arrays():
    f = only(run("make", "name=images_only_shuffled"), "generator.labels_misaligned")
    assert f.evidence["images"] == "x" and f.evidence["labels"] == "y"
    assert f.evidence["mismatched"] > 0.5 * f.evidence["matched_samples"]
    assert f.evidence["examples"][0]["label_yielded"] != f.evidence["examples"][0]["label_in_dataset"]
    assert "permutation" in f.hint


def test_shape_change_allows_only_a_final_partial_batch():
    # pydataset has 60 samples in batches of 8: the last batch holds 4 and must not alarm.
    assert ids(run("pydataset")) == set()
    f = only(run("make", "name=size_drift"), "generator.shape_changed")
    assert f.evidence["batch"] == 2 and f.evidence["shapes"]["[0]"] == [8, 6, 6, 3]


def test_unknown_cardinality_tf_data_walked_partly_is_not_called_endless():
    # filter() makes cardinality unknown; Keras re-iterates it to its end each epoch.
    assert "generator.infinite_unsized" not in ids(run("tf_dataset", "filtered=true", batches=3))
    only(run("tf_dataset", "repeat=true", batches=3), "generator.infinite_unsized")


def test_a_finite_generator_per_call_is_one_pass_not_an_exhausted_stream():
    # make() returns a new generator each call: what from_generator needs (test_generator_epochs.py).
    found = run("make", "name=one_epoch")
    f = only(found, "generator.finite_pass")
    assert f.evidence["batches"] == 8 and f.severity.value == "info"
    assert ids(found) == {"generator.finite_pass"}


def test_shuffle_expectation_can_be_given_explicitly():
    # stepping takes no shuffle argument, so nothing is expected unless the caller says so.
    assert "generator.not_shuffled" not in ids(run("make", "name=stepping"))
    only(run("make", "name=stepping", shuffle_expected=True), "generator.not_shuffled")
    assert "generator.not_shuffled" not in ids(run("make", "name=ignores_shuffle", shuffle_expected=False))


def test_a_consumed_source_is_walked_again_from_the_start():
    source = load_source("generator_cases:make", ("name=one_epoch",))
    assert len(list(source.batches(5))) == 5
    f = only(check_generator(source), "generator.finite_pass")
    assert f.evidence["batches"] == 8


def test_images_stored_twice_in_the_data_set_are_no_duplicates_or_gaps():
    # Matched to the in-memory data set: the stored duplicate is subtracted exactly.
    assert ids(run("make", "name=permuted", "stored_twice=true")) <= ENDLESS
    assert ids(run("make", "name=stepping", "stored_twice=true")) <= ENDLESS
    # Only paths are visible: one repeat in 65 samples is tolerated, and coverage is counted.
    assert ids(run("fixed_batches_over_paths_with_a_copy")) <= ENDLESS


def test_a_sized_source_longer_than_the_walk_is_not_judged_on_coverage():
    from pipecheck.validators.generator import GeneratorThresholds

    short = GeneratorThresholds(max_pass=3)
    source = load_source("generator_cases:pydataset", ("floor=true", "shuffle=true"))
    assert ids(check_generator(source, batches=3, thresholds=short)) == set()
    # ...but the shuffle check still ends the epoch the way Keras would before comparing.
    stuck = load_source("generator_cases:pydataset", ("shuffle=true", "reshuffle=false"))
    only(check_generator(stuck, batches=3, thresholds=short), "generator.not_shuffled")


# ---- static ---------------------------------------------------------------------------------------
def test_static_flags_all_three_patterns_in_seed001_with_file_and_line():
    import generator_cases as gc

    found = {f.check: f for f in check_generator_static(gc.generate_batches_from_train_folder)}
    assert set(found) == {
        "generator.yield_after_loop",
        "generator.tail_dropping_bound",
        "generator.augmenter_per_batch",
    }
    expect = {
        "generator.yield_after_loop": "yield  next(augmented_generator)",
        "generator.tail_dropping_bound": "while n_entries < (filesize - batchsize):",
        "generator.augmenter_per_batch": "augmented_generator = train_datagen.flow(xs, ys, batch_size = batchsize)",
    }
    for check, text in expect.items():
        f = found[check]
        assert f.evidence["file"] == str(CASES)
        assert f.evidence["line"] == line_of(text)[0]
        assert f.subject == f"generator_cases.py:{f.evidence['line']}"  # relative to the current directory
        assert f.hint == registry.get(check).hint
    assert found["generator.yield_after_loop"].evidence["variables"] == ["augmented_generator"]
    assert found["generator.yield_after_loop"].severity.value == "error"


def test_static_follows_a_wrapper_and_a_source_to_the_generator():
    import generator_cases as gc

    assert len(check_generator_static(gc.seed001_train_batches)) == 3
    assert len(check_generator_static(load_source("generator_cases:seed001_train_batches", ()))) == 3


def test_static_follows_calls_past_config_objects_whose_lookups_raise(tmp_path, monkeypatch):
    # AttrDict(dict) with __getattr__ = dict.__getitem__ raises KeyError for a missing key; reading the
    # generator's calls (here one never made) used to crash validate with an internal error.
    (tmp_path / "attr_config_gen.py").write_text(
        "class AttrDict(dict):\n"
        "    __getattr__ = dict.__getitem__\n"
        "CFG = AttrDict(size=8)\n"
        "def batches(xs, batchsize=4):\n"
        "    while 1:\n"
        "        n = 0\n"
        "        while n < (len(xs) - batchsize):\n"
        "            if n < 0:\n"
        "                CFG.log('batch')\n"
        "            yield xs[n : n + batchsize]\n"
        "            n += batchsize\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import attr_config_gen

    assert ids(check_generator_static(attr_config_gen.batches)) == {"generator.tail_dropping_bound"}


def test_static_twins_are_silent():
    import generator_cases as gc

    assert ids(check_generator_static(gc.generate_yield_in_loop)) == {
        "generator.tail_dropping_bound",
        "generator.augmenter_per_batch",
    }
    assert check_generator_static(gc.generate_fixed) == []
    for name, fn in gc.GENERATORS.items():
        assert check_generator_static(fn) == [], name


def test_static_reads_pydataset_getitem_as_per_batch_code():
    found = check_generator_static(load_source("generator_cases:pydataset_flow_per_item", ()))
    assert [f.check for f in found] == ["generator.augmenter_per_batch"]
    assert found[0].evidence["line"] == line_of("return next(self.datagen.flow(x, y, batch_size=len(x)))")[0]
    assert "__getitem__" in found[0].message
    assert check_generator_static(load_source("generator_cases:pydataset", ())) == []
    assert ids(run("pydataset_flow_per_item")) == set()  # dynamically it is a healthy source


@pytest.mark.parametrize(
    "bug,fixed,check",
    [
        (
            "for i in range(0, len(x) - bs, bs):\n        yield x[i:i + bs]",
            "for i in range(0, len(x), bs):\n        yield x[i:i + bs]",
            "generator.tail_dropping_bound",
        ),
        (
            "n = 0\n    while n + batch_size < len(x):\n        yield x[n:n + batch_size]\n        n += batch_size",
            "n = 0\n    while n < len(x):\n        yield x[n:n + batch_size]\n        n += batch_size",
            "generator.tail_dropping_bound",
        ),
        (
            "for i in range(0, len(x), bs):\n        batch = x[i:i + bs] / 255.0\n    yield batch",
            "for i in range(0, len(x), bs):\n        batch = x[i:i + bs] / 255.0\n        yield batch",
            "generator.yield_after_loop",
        ),
        (
            "for i in range(0, len(x), bs):\n        it = aug.flow(x[i:i + bs], batch_size=bs)\n        yield next(it)",
            "it = aug.flow(x, batch_size=bs)\n    for i in range(0, len(x), bs):\n        yield next(it)",
            "generator.augmenter_per_batch",
        ),
    ],
)
def test_static_patterns_from_source_text(bug, fixed, check):
    def module(body):
        return "def gen(x, bs=8, batch_size=8, aug=None):\n    " + body + "\n"

    hits = check_generator_static(module(bug))
    assert [f.check for f in hits] == [check]
    assert hits[0].subject.startswith("<string>:") and hits[0].hint == registry.get(check).hint
    assert check_generator_static(module(fixed)) == []


def test_static_leaves_healthy_idioms_alone():
    code = textwrap.dedent("""
        def pairs(x):
            i = 0
            while i < len(x) - 1:
                yield x[i], x[i + 1]
                i += 1

        def first_readable(paths, load):
            while True:
                for p in paths:
                    img = load(p)
                    if img is not None:
                        break
                yield img

        def accumulate(paths, load, bs):
            while True:
                batch = []
                for p in paths[:bs]:
                    batch.append(load(p))
                yield batch
    """)
    assert check_generator_static(code) == []


# ---- the CLI path -------------------------------------------------------------------------------
SEED_MODULE = """
import numpy as np
from generator_cases import generate_batches_from_train_folder, PATHS, ONE_HOT

def train_batches():
    return generate_batches_from_train_folder(PATHS, ONE_HOT)
"""


def test_cli_validate_source_reports_seed001_and_exits_1(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from pipecheck.cli import cli

    (tmp_path / "seed_cli_mod.py").write_text(SEED_MODULE)
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["validate", "--source", "seed_cli_mod:train_batches", "--batches", "20", "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    found = {f["check"]: f for f in report["findings"]}
    assert found["generator.same_batch_repeated"]["severity"] == "error"
    assert found["generator.yield_after_loop"]["subject"].endswith(
        f"generator_cases.py:{line_of('yield  next(augmented_generator)')[0]}"
    )
    assert "generator.tail_dropping_bound" in found and "generator.augmenter_per_batch" in found


def test_the_seed001_sample_over_the_dump_is_caught(monkeypatch):
    monkeypatch.chdir(HERE.parents[2])
    source = load_source("samples.buggy.seed001_generator:train_batches", ("img_size=32",))
    f = only(check_generator(source, batches=4), "generator.same_batch_repeated")
    assert f.evidence["distinct_batches"] == 1
    assert ids(check_generator_static(source)) == {
        "generator.yield_after_loop",
        "generator.tail_dropping_bound",
        "generator.augmenter_per_batch",
    }


def test_a_finite_repeat_is_not_duplicate_samples():
    # keras-io BiT: .shuffle(n).repeat(repeat_count).map(...).batch(...): the pass holds the data k times
    # by design (the tf.data guide's repeat(3) too). Samples repeated beyond the k copies still fire.
    import numpy as np
    import tensorflow as tf

    from pipecheck.validators.sources import Source

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (36, 8, 8, 3)).astype("float32")
    y = np.arange(36) % 3

    def source(images, k):
        ds = tf.data.Dataset.from_tensor_slices((images, y[: len(images)])).shuffle(len(images), seed=1)
        return Source("repeat_case", ds.repeat(k).batch(8), lambda: ds.repeat(k).batch(8), {}, None)

    assert Source("s", tf.data.Dataset.range(4).repeat(3).map(lambda v: v).batch(2), None, {}, None).repeats == 3
    assert "generator.duplicate_samples" not in ids(check_generator(source(x, 2)))
    assert "generator.duplicate_samples" not in ids(check_generator(source(x, 4)))
    # Two sources of copies that are not k copies of the pass: zip stops at its shorter side.
    zipped = tf.data.Dataset.zip((tf.data.Dataset.range(4).repeat(2), tf.data.Dataset.range(4)))
    assert Source("z", zipped, None, {}, None).repeats == 1
    # Half the images stored twice, then repeated twice: more copies than the repeat explains.
    doubled = np.concatenate([x[:18], x[:18]])
    found = only(check_generator(source(doubled, 2)), "generator.duplicate_samples")
    assert "more than its .repeat(2) explains" in found.message and found.evidence["repeats"] == 2


def test_a_repeat_longer_than_the_window_allows_no_copies_in_it():
    """One copy of a .repeat(3) pass fills the whole 1000-batch window: no repeated copy is in it, so
    images stored twice still show (a stranger's review: 400 of 1600 images doubled went unreported)."""
    import numpy as np
    import tensorflow as tf

    from pipecheck.validators.sources import Source

    x = np.random.default_rng(1).integers(0, 255, (1600, 4, 4, 3)).astype("uint8")
    base = tf.data.Dataset.from_tensor_slices((x, np.arange(1600) % 4))
    doubled = base.concatenate(base.take(400)).shuffle(2000, seed=3).repeat(3).batch(2)
    found = check_generator(Source("window", doubled, lambda: doubled, {}, None))
    f = only(found, "generator.duplicate_samples")
    assert f.evidence["repeats"] == 3 and f.evidence["pass_steps"] == 1000
