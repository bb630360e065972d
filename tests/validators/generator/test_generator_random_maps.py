"""Random maps whose draws repeat every epoch: before ``cache()``
(``generator.augmentation_before_cache``) and under a fixed seed
(``generator.augmentation_repeats_each_epoch``).

The bug as tensorflow#47755 found it in the TF segmentation tutorial (2021): ``load_image_train`` flips
with ``tf.random.uniform`` and the dataset is ``train.cache().shuffle(...)``, so the flips drawn in
epoch 1 come back in every later epoch. Each firing case is checked to really freeze its
augmentation (two passes, same images) and has a healthy twin: the tutorial's fix (cache, then
augment), and random work that ``cache()`` does not freeze or that is meant to be frozen.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from pipecheck.validators import registry
from pipecheck.validators.findings import Severity
from pipecheck.validators.generator import check_generator
from pipecheck.validators.sources import load_source

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
CHECK = "generator.augmentation_before_cache"
SEEDED = "generator.augmentation_repeats_each_epoch"


def _images():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, 12, 12, 3)).astype("float32")
    y = np.arange(16) % 4
    return tf.data.Dataset.from_tensor_slices((x, y))


@pytest.fixture
def tf():
    """TensorFlow without a global seed: under ``tf.random.set_seed`` (which other tests call) each
    new iterator of a map replays the same stateful draws, cached or not.
    """
    import tensorflow

    tensorflow.random.set_seed(None)
    return tensorflow


def load_image_train(image, label):
    """The 2021 segmentation tutorial's map (the mask is a class label here)."""
    import tensorflow as tf

    if tf.random.uniform(()) > 0.5:
        image = tf.image.flip_left_right(image)
    return tf.cast(image, tf.float32) / 255.0, label


def _findings(ds, check=CHECK):
    return [f for f in check_generator(load_source(ds), batches=8) if f.check == check]


def _pass(ds):
    return np.concatenate([x.numpy() for x, _ in ds])


def _keras_augmentation():
    import keras

    return keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation(0.2)])


def firing_cases(tf, folder):
    """``name -> (dataset with the bug, the same pipeline without cache())``."""
    base = _images()
    aug = _keras_augmentation()
    gen = tf.random.Generator.from_seed(7)

    def keras_aug(x, y):
        return aug(x, training=True), y

    def noise(x, y):
        return x + gen.normal(tf.shape(x), stddev=8.0), y

    def crop(x, y):
        return tf.image.resize(tf.image.random_crop(x, [8, 8, 3]), [12, 12]), y

    zipped = tf.data.Dataset.zip((base.map(load_image_train), base)).map(lambda a, b: a)
    return {
        "tutorial_2021_flip": (
            base.map(load_image_train).cache().shuffle(16).batch(4),
            base.map(load_image_train).batch(4),
        ),
        "keras_layers_on_batches": (base.batch(4).map(keras_aug).cache(), base.batch(4).map(keras_aug)),
        "generator_noise_file_cache": (base.map(noise).cache(str(folder / "cache")).batch(4), base.map(noise).batch(4)),
        "random_crop_parallel_map": (
            base.map(crop, num_parallel_calls=2, deterministic=True).cache().batch(4),
            base.map(crop, num_parallel_calls=2, deterministic=True).batch(4),
        ),
        "one_zip_branch": (zipped.cache().batch(4), zipped.batch(4)),
    }


@pytest.mark.parametrize(
    "name",
    [
        "tutorial_2021_flip",
        "keras_layers_on_batches",
        "generator_noise_file_cache",
        "random_crop_parallel_map",
        "one_zip_branch",
    ],
)
def test_random_map_before_cache_fires_and_its_augmentation_is_really_frozen(tf, tmp_path, name):
    buggy, uncached = firing_cases(tf, tmp_path)[name]
    found = _findings(buggy)
    assert len(found) == 1, found
    f = found[0]
    assert f.severity == Severity.WARNING
    assert "before cache()" in f.message and "frozen" in f.message
    assert f.hint == registry.get(CHECK).hint and ".cache().map(augment)" in f.hint
    assert f.evidence["maps"] and all(m["random_ops"] for m in f.evidence["maps"])
    if name == "generator_noise_file_cache":
        assert "in a file" in f.message
    if name == "tutorial_2021_flip":
        assert "load_image_train()" in f.message and f.evidence["maps"][0]["random_ops"] == ["RandomUniform"]

    # The bug is real: with cache() two passes give the same images (sorted: shuffle may reorder
    # them); without it they differ.
    def frozen(ds):
        a, b = _pass(ds), _pass(ds)
        return sorted(i.tobytes() for i in a) == sorted(i.tobytes() for i in b)

    assert frozen(buggy)
    assert not frozen(uncached)


def test_the_tutorial_fix_caches_first_and_augments_after(tf):
    """Today's tutorial order: cache the loaded images, then the random map."""
    base = _images()
    aug = _keras_augmentation()
    assert not _findings(base.cache().map(load_image_train).shuffle(16).batch(4))
    assert not _findings(base.cache().batch(4).map(lambda x, y: (aug(x, training=True), y)))
    # The TF tutorial's layout: decode + resize cached, augmentation inside the model.
    assert not _findings(base.map(lambda x, y: (tf.image.resize(x, [8, 8]), y)).cache().shuffle(16).batch(4))


def test_random_work_that_cache_does_not_freeze_or_should_stays_silent(tf):
    base = _images()
    counter = tf.data.Dataset.counter()

    def seeded(element, seed):  # the TF augmentation tutorial's stateless ops, seeded per element
        x, y = element
        return tf.image.stateless_random_flip_left_right(x, seed), y

    def fixed_seed(x, y):
        return tf.image.stateless_random_brightness(x, 0.2, seed=(1, 2)), y

    cases = {
        "counter_seeds": tf.data.Dataset.zip((base, tf.data.Dataset.zip((counter, counter)))).map(seeded),
        "constant_seed": base.map(fixed_seed),
        "random_split_filter": base.filter(lambda x, y: tf.random.uniform(()) < 0.8),
        "shuffle_only": base.shuffle(16),
    }
    for name, ds in cases.items():
        assert not _findings(ds.cache().batch(4)), name
    # Not tf.data: nothing to read.
    assert not _findings([(np.zeros((2, 4, 4, 3), "float32"), np.zeros(2))])


# -- under a fixed seed ------------------------------------------------------------------------------
def _flip(x, y):
    import tensorflow as tf

    return tf.image.random_flip_left_right(x), y


def test_a_global_seed_replays_tf_random_draws_every_epoch(tf):
    """tensorflow#35682 / #44195: with ``tf.random.set_seed`` a finite mapped dataset draws the same
    numbers on every new iterator, and model.fit makes one per epoch."""
    import keras

    tf.random.set_seed(35682)
    buggy = _images().map(_flip).batch(4)
    # #44195's reproduction, as written there (a scalar stream, checked through the same reader).
    issue = tf.data.Dataset.range(2).map(lambda x: tf.cast(x, tf.float32) + tf.random.uniform(()))
    tf.random.set_seed(None)
    healthy = _images().map(_flip).batch(4)

    found = _findings(buggy, SEEDED)
    assert len(found) == 1 and found[0].severity == Severity.WARNING, found
    f = found[0]
    assert "fixed seed" in f.message and "new iterator" in f.message
    assert f.evidence["maps"][0]["random_ops"] == ["RandomUniform"] and "_flip()" in f.message
    assert "tf.random.Generator" in f.hint and "steps_per_epoch" in f.hint
    assert not _findings(buggy, CHECK)
    assert _pass(buggy).tobytes() == _pass(buggy).tobytes()  # the bug is real
    from pipecheck.validators.generator.random_maps import random_map_findings

    assert [x.check for x in random_map_findings(load_source(issue), "issue")] == [SEEDED]
    assert list(issue.as_numpy_iterator()) == list(issue.as_numpy_iterator())

    assert not _findings(healthy, SEEDED)
    assert _pass(healthy).tobytes() != _pass(healthy).tobytes()

    keras.utils.set_random_seed(7)  # sets TensorFlow's global seed too
    assert _findings(_images().map(_flip).batch(4), SEEDED)
    tf.random.set_seed(None)
    # An op seed alone does the same.
    op_seeded = _images().map(lambda x, y: (tf.image.random_flip_left_right(x, seed=5), y)).batch(4)
    assert _findings(op_seeded, SEEDED)


def test_under_a_global_seed_what_moves_on_stays_silent(tf):
    """Keras layers and tf.random.Generator advance their seed state; ``.repeat()`` keeps one
    iterator for the whole fit; a seeded map below cache() is reported once, as the cache's."""
    import keras

    tf.random.set_seed(44195)
    aug = keras.Sequential([keras.layers.RandomFlip("horizontal")])
    gen = tf.random.Generator.from_seed(1)
    layers = _images().batch(4).map(lambda x, y: (aug(x, training=True), y))
    generator = _images().map(lambda x, y: (x + gen.normal(tf.shape(x)), y)).batch(4)
    repeated = _images().map(_flip).batch(4).repeat()
    cached = _images().map(_flip).cache().batch(4)
    tf.random.set_seed(None)
    assert not _findings(layers, SEEDED) and _pass(layers).tobytes() != _pass(layers).tobytes()
    assert not _findings(generator, SEEDED)
    assert not _findings(repeated, SEEDED)
    assert not _findings(cached, SEEDED) and _findings(cached, CHECK)


def _per_image(ds):
    """``{image index: its augmented pixels}`` for one pass of a dataset of ``(image, index)``
    elements or batches, whatever order the pass takes."""
    out = {}
    for x, i in ds:
        x, i = x.numpy(), i.numpy()
        for image, index in zip(x.reshape((-1, *x.shape[-3:])), np.ravel(i)):
            out[int(index)] = image.tobytes()
    return out


def _indexed():
    import tensorflow as tf

    x = np.random.default_rng(1).integers(0, 256, (32, 12, 12, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, np.arange(32)))


def _frozen(ds):
    """How many images get the same augmentation in two epochs (new iterators), of 32."""
    first, second = _per_image(ds), _per_image(ds)
    return sum(first[i] == second[i] for i in first)


def test_under_a_global_seed_a_reshuffled_order_moves_each_images_draws(tf, tmp_path):
    """The seeded draws replay, but a ``shuffle()`` above the map that reshuffles every epoch hands
    them to other images (``image_dataset_from_directory(shuffle=True)``, ``list_files``,
    ``ds.shuffle(n).map(augment)``), so each image's augmentation still changes: silent. A shuffle
    that does not reshuffle, one below the map, or one whose order a ``cache()`` replays freezes
    the pairing again: fires. Each case is checked against what two epochs really give."""
    import keras
    from PIL import Image

    for k in range(2):
        (tmp_path / f"c{k}").mkdir()
    rng = np.random.default_rng(2)
    for n in range(24):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / f"c{n % 2}" / f"{n}.png")

    tf.random.set_seed(35682)
    base = _indexed()
    healthy = {
        "shuffle_then_map": base.shuffle(32).map(_flip).batch(4),
        "small_buffer": base.shuffle(8).map(_flip).batch(4),
        "batches_reshuffled": base.batch(4).shuffle(8).map(_flip),
        "seeded_shuffle": base.shuffle(32, seed=3).map(_flip).batch(4),
    }
    buggy = {
        "no_reshuffle": base.shuffle(32, reshuffle_each_iteration=False).map(_flip).batch(4),
        "shuffle_below_map": base.map(_flip).shuffle(32).batch(4),
        "order_cached": base.shuffle(32).cache().map(_flip).batch(4),
    }
    # The Keras loader, its own shuffle on: its files in a reshuffled order, the user's flip on batches.
    idfd = keras.utils.image_dataset_from_directory(
        str(tmp_path), image_size=(12, 12), batch_size=4, shuffle=True, seed=1, verbose=False
    )
    idfd_flip = idfd.map(lambda x, y: (tf.image.random_flip_left_right(x), y))
    tf.random.set_seed(None)

    for name, ds in healthy.items():
        assert not _findings(ds, SEEDED), name
        assert _frozen(ds) < 28, name  # a fair coin per image: ~16 of 32 keep their flip
    for name, ds in buggy.items():
        found = _findings(ds, SEEDED)
        assert [f.check for f in found] == [SEEDED], name
        assert _frozen(ds) == 32, name
    assert not _findings(idfd_flip, SEEDED)
    first, second = [sorted(image.tobytes() for x, _ in idfd_flip for image in x.numpy()) for _ in "12"]
    assert len(first) == 24 and first != second  # some image's flip changed between the epochs


def _stateless_flip(element, seed):
    import tensorflow as tf

    x, i = element
    return tf.image.stateless_random_flip_left_right(x, seed), i


def test_the_augmentation_tutorials_counter_seeds_give_each_image_its_seed_every_epoch(tf):
    """Option 1 of the TF data-augmentation tutorial zips a ``Dataset.counter()`` with the images
    before shuffling: the counter restarts with each iterator, so image k gets seed (k, k), the same
    crop and brightness, every epoch. Seeds that change per epoch (``Dataset.random`` rerandomized,
    the tutorial's option 2 with ``tf.random.Generator``, a counter zipped with reshuffled images)
    stay silent."""
    base = _indexed()
    counter = tf.data.Dataset.counter()
    tutorial = tf.data.Dataset.zip((base, (counter, counter))).shuffle(32).map(_stateless_flip).batch(4)
    random_seeds = tf.data.Dataset.random(seed=4).batch(2)
    fixed_random = tf.data.Dataset.zip((base, random_seeds)).map(_stateless_flip).batch(4)
    constant = base.map(lambda x, i: (tf.image.stateless_random_flip_left_right(x, seed=(1, 2)), i)).batch(4)

    rerandomized = tf.data.Dataset.random(seed=4, rerandomize_each_iteration=True).batch(2)
    rng = tf.random.Generator.from_seed(123, alg="philox")

    def option_2(x, i):
        return _stateless_flip((x, i), rng.make_seeds(2)[0])

    healthy = {
        "rerandomized_seeds": tf.data.Dataset.zip((base, rerandomized)).map(_stateless_flip).batch(4),
        "tutorial_option_2": base.shuffle(32).map(option_2).batch(4),
        "counter_with_reshuffled_images": tf.data.Dataset.zip((base.shuffle(32), (counter, counter)))
        .map(_stateless_flip)
        .batch(4),
    }
    for name, ds in {"tutorial_option_1": tutorial, "dataset_random": fixed_random, "constant": constant}.items():
        found = _findings(ds, SEEDED)
        assert len(found) == 1 and found[0].severity == Severity.WARNING, (name, found)
        assert found[0].evidence["seed"] == "per element", name
        assert "counter()" in found[0].message and "rng.make_seeds" in found[0].hint, name
        assert _frozen(ds) == 32, name
    for name, ds in healthy.items():
        assert not _findings(ds, SEEDED), name
        assert _frozen(ds) < 28, name
    # sample_from_datasets picks its sources through a stateless map over seeds, not images: not reported.
    picked = tf.data.Dataset.sample_from_datasets([base.take(16), base.skip(16)], [0.5, 0.5]).batch(4)
    assert not _findings(picked, SEEDED)


def test_other_orders_that_change_per_epoch_and_ones_that_do_not(tf):
    """``sample_from_datasets(rerandomize_each_iteration=True)`` and ``shuffle_and_repeat`` reorder
    per iterator (silent); their defaults and ``shuffle(1)`` do not (fires)."""
    import warnings

    tf.random.set_seed(35682)
    base = _indexed()
    halves = [base.take(16), base.skip(16)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shuffle_and_repeat is deprecated
        shuffle_and_repeat = base.apply(tf.data.experimental.shuffle_and_repeat(32, count=1))
    healthy = {
        "sample_rerandomized": tf.data.Dataset.sample_from_datasets(halves, rerandomize_each_iteration=True),
        "shuffle_and_repeat": shuffle_and_repeat,
    }
    buggy = {"sample_default": tf.data.Dataset.sample_from_datasets(halves), "shuffle_1": base.shuffle(1)}
    healthy = {k: v.map(_flip).batch(4) for k, v in healthy.items()}
    buggy = {k: v.map(_flip).batch(4) for k, v in buggy.items()}
    tf.random.set_seed(None)
    for name, ds in healthy.items():
        assert not _findings(ds, SEEDED), name
        assert _frozen(ds) < 28, name
    for name, ds in buggy.items():
        assert [f.severity for f in _findings(ds, SEEDED)] == [Severity.WARNING], name
        assert _frozen(ds) == 32, name


def test_a_parallel_seeded_map_is_told_as_partly_repeating_not_frozen(tf):
    """Parallel calls take the replayed draws in the order they run, so which image gets which draw
    varies with the machine's load: an info, worded as partial."""
    tf.random.set_seed(35682)
    base = _indexed()
    parallel = base.map(_flip, num_parallel_calls=tf.data.AUTOTUNE).batch(4)
    one_call = base.map(_flip, num_parallel_calls=1).batch(4)
    tf.random.set_seed(None)
    found = _findings(parallel, SEEDED)
    assert [f.severity for f in found] == [Severity.INFO] and "part of each image's augmentation" in found[0].message
    assert [f.severity for f in _findings(one_call, SEEDED)] == [Severity.WARNING]
    assert _frozen(one_call) == 32


def test_snapshot_compat_v1_nested_caches_and_names(tf, tmp_path):
    """``snapshot()`` keeps its first pass like ``cache()``; ``tf.compat.v1`` datasets are read through
    their adapters; two caches over one map give one finding; methods, partials and Keras layers are
    named as the user wrote them."""
    import functools

    import keras

    base = _indexed()
    snap = base.map(_flip).snapshot(str(tmp_path / "snap")).batch(4)
    found = _findings(snap)
    assert len(found) == 1 and "snapshot()" in found[0].message and _frozen(snap) == 32

    v1 = tf.compat.v1.data.Dataset.from_tensor_slices((np.zeros((8, 4, 4, 3), "float32"), np.arange(8)))
    assert _findings(v1.map(_flip).cache().batch(4))

    assert len(_findings(base.map(_flip).cache().batch(4).cache())) == 1

    class Augmenter:
        def augment(self, x, i):
            return tf.image.random_flip_left_right(x), i

    flip = keras.layers.RandomFlip("horizontal")
    named = {
        "Augmenter.augment()": base.map(Augmenter().augment),
        "partial()": base.map(functools.partial(lambda x, i, k: _flip(x, i), k=1)),
        "RandomFlip()": tf.data.Dataset.from_tensor_slices(np.zeros((8, 4, 4, 3), "float32")).map(flip),
    }
    for shown, ds in named.items():
        messages = [f.message for f in _findings(ds.cache())]
        assert messages and shown in messages[0], (shown, messages)


def test_a_change_in_tf_data_internals_is_silence_not_a_crash(tf, monkeypatch):
    """The checks read private tf.data attributes; if a TensorFlow release moves them, validate goes on
    without these findings instead of stopping."""
    from pipecheck.validators.generator import random_maps

    ds = _images().map(_flip).cache().batch(4)
    assert _findings(ds)

    def moved(*args, **kwargs):
        raise AttributeError("'_MapDataset' object has no attribute '_map_func'")

    monkeypatch.setattr(random_maps, "dataset_nodes", moved)
    assert not _findings(ds)
    assert check_generator(load_source(ds), batches=8) is not None
