"""Read a built dataset back as a ``tf.data`` pipeline that feeds ``model.fit`` directly.

Shards are read sequentially and interleaved (``interleave`` over files); each record is decoded,
resized and given the backbone's own ``keras.applications.<module>.preprocess_input`` (split into a
channel permutation and an affine map, see :func:`_preprocess_ops`) in parallel, then batched and
prefetched. Large JPEGs are decoded DCT-scaled unless ``exact_resize`` (see :func:`load_dataset`).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from pipecheck.pipeline import spec
from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.labels import LabelMode
from pipecheck.pipeline.manifest import Manifest, load_manifest


def default_label_mode(manifest: Manifest | Mapping[str, Any]) -> LabelMode:
    """``multi_hot`` for a multi-label build, else ``categorical`` (``manifest``: typed, or its JSON object)."""
    if not isinstance(manifest, Manifest):
        manifest = Manifest.from_dict(manifest)
    return LabelMode.for_data(manifest.multi_label)


def load_dataset(
    data_dir: str,
    split: str = "train",
    *,
    backbone: str | None = None,
    image_size: int | tuple[int, int] | None = None,
    batch_size: int | None = 32,
    shuffle: bool | None = None,
    shuffle_buffer: int = 2048,
    label_mode: str | LabelMode | None = None,
    repeat: bool = False,
    deterministic: bool = False,
    seed: int | None = None,
    drop_remainder: bool = False,
    autotune: bool = False,
    exact_resize: bool = False,
):
    """A ``tf.data.Dataset`` of ``(images, labels)`` from a folder built by ``build-tfrecords``.

    Args:
        data_dir: The build's ``--out`` folder (holds ``dataset.json``).
        split: ``train``, ``val`` or any split in the manifest.
        backbone: A ``keras.applications`` backbone name (``resnet50``, ``inception_v3``, ...); its
            ``preprocess_input`` is applied and its default input size is used. Without it images
            are float32 in [0, 255].
        image_size: Side (or ``(height, width)``) to resize to; defaults to the backbone's default,
            else 224.
        batch_size: Batch size, or None for unbatched examples.
        shuffle: Shuffle files and records; defaults to True for ``train`` only.
        shuffle_buffer: Records in the shuffle buffer.
        label_mode: A :class:`LabelMode` or its name or alias (``LabelMode.normalize``): ``categorical``
            (one-hot), ``multi_hot``, ``int`` (class index) or ``binary`` (the class index as one
            float 0/1 column, two-class builds only); defaults to ``multi_hot`` for multi-label
            builds, else ``categorical``.
        repeat: Repeat forever (for ``steps_per_epoch`` training).
        deterministic: Keep a fixed element order (slower); pair with ``seed`` for repeatability.
        seed: Shuffle seed.
        drop_remainder: Drop the last partial batch.
        autotune: Let tf.data's autotuner size the pipeline. Off by default: on the 2-core
            machines measured here it left about half the runs on one core from start to end; off,
            the map runs one call per thread of the pipeline's private pool (2 per CPU, 8 to 64).
            The option is inherited by datasets derived from this one (their own ``AUTOTUNE``
            maps then run one call per pool thread, up to 16).
        exact_resize: Decode every JPEG at full size before the resize: the images are then those of
            a plain ``tf.io.decode_jpeg(data, channels=3)`` + ``tf.image.resize`` pipeline (and the
            backbone's preprocessing), bit for bit. Off by default: a JPEG whose short side is at
            least 2, 4 or 8 times the larger output side is decoded at 1/2, 1/4 or 1/8 scale by
            libjpeg's scaled IDCT (the decoded short side never falls below the output side). That
            changes values: libjpeg averages the pixels that the bilinear resize (which does not
            antialias) skips, so much of the difference is aliasing that the exact read has and the
            scaled one has less of (PSNR against the exact read and an antialiased resize:
            docs/benchmarks.md). Images stored under twice the output side (``--max-side`` builds,
            PNGs) decode at full size either way.

    Returns:
        The dataset; ``images`` are float32 ``(batch, H, W, 3)``, ``labels`` float32 one-/multi-hot
        ``(batch, C)``, int64 ``(batch,)`` or float32 ``(batch, 1)`` (binary).
    """
    # long: the docstring is the reference of every argument; the body is ~35 lines of named steps
    import tensorflow as tf

    manifest = load_manifest(data_dir)
    mode = _label_mode(manifest, data_dir, label_mode)
    bb = _backbone(backbone)
    image_size = image_size or (bb.default_size if bb else None) or 224
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    shuffle = (split == "train") if shuffle is None else shuffle

    paths = manifest.shard_paths(data_dir, split)
    if not paths:
        raise InputError(
            f"split {split!r} of {data_dir} is empty (no image landed in it); rebuild with other split options"
        )
    ds = _records(
        paths, shuffle=shuffle, shuffle_buffer=shuffle_buffer, seed=seed, repeat=repeat, deterministic=deterministic
    )

    # DCT scaling (decode at 1/2, 1/4 or 1/8 while the short side stays >= the target side) skips
    # most of the IDCT work for large stored images; a build whose --max-side rules it out skips the
    # per-record branch and the size features too.
    max_side = manifest.option.get("max_side")
    dct_scaling = not exact_resize and (max_side is None or max_side >= 2 * max(height, width))
    description = _parse_spec(dct_scaling)
    decode_image = _decoder(bb, height, width, max_side, dct_scaling)
    labeler = _labeler(mode, len(manifest.classes))

    def decode(record):
        parsed = tf.io.parse_single_example(record, description)
        return decode_image(parsed), labeler(parsed[spec.LABEL_INDEX].values)  # label ids in record order

    threads = _threadpool_size()
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE if autotune else threads, deterministic=deterministic)
    if batch_size:
        # A plain batch: with every core already decoding, a parallel batch only added contention.
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.with_options(_options(deterministic, autotune, threads))
    return ds.prefetch(tf.data.AUTOTUNE)


def _backbone(name: str | None):
    """The backbone named ``name`` (``backbones.get``), None without one; one-line InputError if unknown."""
    if not name:
        return None
    from pipecheck.pipeline.backbones import UnknownBackbone, get

    try:
        return get(name)
    except UnknownBackbone as exc:
        raise InputError(str(exc)) from None


def _records(
    paths: list[str], *, shuffle: bool, shuffle_buffer: int, seed: int | None, repeat: bool, deterministic: bool
):
    """Serialized records of the shards at ``paths``: files (shuffled) read interleaved, records
    shuffled, repeated.
    """
    import tensorflow as tf

    files = tf.data.Dataset.from_tensor_slices(paths)
    if shuffle and len(paths) > 1:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = files.interleave(
        lambda p: tf.data.TFRecordDataset(p, buffer_size=8 << 20),
        cycle_length=max(1, min(len(paths), 8)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds


def _label_mode(manifest: Manifest, data_dir: str, label_mode: str | LabelMode | None) -> LabelMode:
    """The asked mode (any :class:`LabelMode` spelling) or the build's default; one-line InputError
    for an unknown one, a single-label mode on multi-label data, or binary on more than two classes.
    """
    mode = LabelMode.normalize(label_mode or None) or default_label_mode(manifest)
    if mode != LabelMode.MULTI_HOT and manifest.multi_label:
        raise InputError(f"{data_dir} holds multi-label data; use label_mode='multi_hot'")
    if mode == LabelMode.BINARY and len(manifest.classes) != 2:
        raise InputError(
            f"label_mode 'binary' needs two classes and {data_dir} has {len(manifest.classes)}; "
            "use label_mode='categorical' or 'int'"
        )
    return mode


def _parse_spec(with_size: bool) -> dict[str, Any]:
    """The features the reader parses, from the one feature spec: the image bytes and label ids, and
    the stored size when DCT scaling may apply (fewer features parse faster).
    """
    keys = [spec.IMAGE_ENCODED, spec.LABEL_INDEX]
    if with_size:
        keys += [spec.IMAGE_HEIGHT, spec.IMAGE_WIDTH]
    return spec.feature_description(keys=keys)


def _decoder(bb, height: int, width: int, max_side: int | None, dct_scaling: bool):
    """``parsed record -> float32 (height, width, 3) image``: decode (DCT-scaled when
    ``dct_scaling``), resize, the backbone's channel permutation and affine map.
    """
    import tensorflow as tf

    target_side = max(height, width)
    permute, affine = _preprocess_ops(bb, height, width)

    def decode_image(parsed):
        # decode_jpeg is TF's generic image kernel: it also decodes the PNGs the writer stores (the
        # ratio only applies to JPEG), so no per-record format branch is needed.
        data = parsed[spec.IMAGE_ENCODED]
        if not dct_scaling:
            return tf.io.decode_jpeg(data, channels=3)
        short_side = tf.minimum(parsed[spec.IMAGE_HEIGHT], parsed[spec.IMAGE_WIDTH])
        ratio_index = (
            tf.cast(short_side >= 2 * target_side, tf.int32)
            + tf.cast(short_side >= 4 * target_side, tf.int32)
            + tf.cast(short_side >= 8 * target_side, tf.int32)
        )
        branches = [
            lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r, dct_method="INTEGER_FAST" if r > 1 else "")
            for r in (1, 2, 4, 8)
        ]
        return tf.switch_case(ratio_index, branches)

    # TensorFlow's bilinear resize gives bit-identical results from a uint8 image and from its
    # float32 cast, and the float kernel is the faster one: casting first pays while the decoded
    # image is at most ~4x the output's pixels (256-px records: the resize stage ~1.3x faster, the
    # whole reader +11%, paired median of 8 interleaved rounds) and costs beyond that (the cast
    # touches every input pixel, the resize only those it samples: a 3000x4000 PNG record, which
    # has no DCT scaling, would take 14x longer). Builds whose --max-side keeps every image that
    # small skip the per-record branch.
    cast_limit = 4 * height * width
    always_cast = max_side is not None and max_side * max_side <= cast_limit

    def resize(image):
        def cast_first():
            return tf.image.resize(tf.cast(image, tf.float32), [height, width])

        if always_cast:
            return cast_first()
        shape = tf.shape(image)
        return tf.cond(shape[0] * shape[1] <= cast_limit, cast_first, lambda: tf.image.resize(image, [height, width]))

    def decode(parsed):
        # Bilinear weights are convex, so the resized values stay within [0, 255]: no clip needed.
        image = affine(permute(resize(decode_image(parsed))))
        image.set_shape([height, width, 3])
        return image

    return decode


def _labeler(mode: LabelMode, n_classes: int):
    """``label ids of one record -> label`` in ``mode``: int64 id, float32 one-hot or multi-hot row of
    ``n_classes``, or float32 ``[id]`` (binary).
    """
    import tensorflow as tf

    def label(index):
        if mode == LabelMode.INT:
            return index[0]
        if mode == LabelMode.BINARY:
            return tf.reshape(tf.cast(index[0], tf.float32), [1])
        if mode == LabelMode.CATEGORICAL:
            return tf.one_hot(index[0], n_classes, dtype=tf.float32)
        # sum+clip, not max: max over an image with no labels (a negative) would be -inf
        hot = tf.minimum(tf.reduce_sum(tf.one_hot(index, n_classes, dtype=tf.float32), axis=0), 1.0)
        return tf.reshape(hot, [n_classes])

    return label


def _options(deterministic: bool, autotune: bool, threads: int):
    """The pipeline's ``tf.data.Options``: its element order, a private thread pool, the autotuner."""
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = deterministic
    # A private pool for this pipeline's reads, decodes and batching (as TF's official ImageNet
    # input pipelines do), rather than TensorFlow's shared inter-op pool of one thread per core:
    # 5-8% more images/s on 2 cores in 9-13 interleaved rounds, and the model's own ops do not
    # queue behind the input pipeline's.
    options.threading.private_threadpool_size = threads
    # Measured on this project's 2-core VM (benchmarks/throughput.py and 10-run loops of this
    # pipeline; cause not found): with the autotuner on, about half the runs stayed on one core
    # from start to end, 977 images/s from full-size shards at 1.0 CPU against ~1900 at 2.0, even
    # with the map's parallelism fixed (5 of 10 runs); image_dataset_from_directory shows the same
    # two speeds. With it off: no slow run in 36, at the fast runs' speed. One call per pool thread
    # keeps both cores busy (a call per core left gaps: ~25% slower); prefetch tunes its own buffer
    # either way. Re-enable with autotune=True, or ``ds.with_options(o)`` where
    # ``o.autotune.enabled = True``, on a derived dataset.
    options.autotune.enabled = autotune
    return options


def _threadpool_size() -> int:
    """Threads for one input pipeline: twice the CPUs this process may run on (its affinity, which
    a container's CPU set narrows, not the host's count), at least 8, at most 64.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return min(64, max(8, 2 * cpus))


def _preprocess_ops(bb, height: int, width: int):
    """The backbone's ``preprocess_input`` as two cheap per-image ops: ``(permute, affine)``.

    ``backbones.py`` solves Keras' own ``keras.applications.<module>.preprocess_input`` as a
    per-channel affine map with a channel permutation (and checks the solution against it). Both
    are applied per image after the resize, where the image has the output's size whatever the
    stored one (a permutation before it touched every decoded pixel: on full-size 256-900 px
    records about 0.27 ms an image against 0.06 after it, the whole reader ~17% more images per
    CPU-second, paired median of 5 rounds; same values, resizing is per channel). Its two reverses
    cost a fraction of Keras' strided slice on the float batch (which on a CPU took longer than
    decoding the images). The affine map uses scalars where the three channels agree and full-size
    constants otherwise, because TensorFlow's CPU kernels broadcast a trailing axis of 3 several
    times slower than they apply a same-shape operand. Tests compare the composition with Keras'
    function.

    Args:
        bb: A backbone from ``backbones.get``, or None for raw [0, 255] pixels.
        height: Output height (the size of the affine constants).
        width: Output width.

    Returns:
        ``permute(image) -> image`` (any dtype) and ``affine(float image) -> float image``.
    """
    import numpy as np
    import tensorflow as tf

    if bb is None or bb.mode == "none":
        return _identity, _identity
    source = tuple(bb.source_channel)
    if source == (0, 1, 2):
        permute = _identity
    elif source == (2, 1, 0):
        permute = _reverse_channels
    else:
        permute = lambda x: tf.gather(x, list(source), axis=-1)  # noqa: E731
    scale, offset = np.asarray(bb.scale, np.float32), np.asarray(bb.offset, np.float32)
    if np.ptp(scale) == 0 and np.ptp(offset) == 0:
        s, o = float(scale[0]), float(offset[0])
        return permute, lambda x: x * s + o
    full_scale = tf.constant(np.broadcast_to(scale, (height, width, 3)))
    full_offset = tf.constant(np.broadcast_to(offset, (height, width, 3)))
    if np.all(scale == 1.0):
        return permute, lambda x: x + full_offset
    return permute, lambda x: x * full_scale + full_offset


def _identity(x):
    # A named function: two lambdas on one line make AutoGraph warn on every load_dataset call.
    return x


def _reverse_channels(image):
    """RGB -> BGR of an ``H x W x 3`` image, in two of TensorFlow's fast reverses.

    Reversing the trailing axis of 3 takes Eigen's generic per-element path; reversing the whole
    buffer (contiguous) turns the image by 180 degrees *and* swaps R and B, and reversing the pixel
    order back is the kernel's special case for rows of 3-channel pixels: the same result in about
    two thirds of the time (0.055 against 0.077 ms for 256 x 192 here).
    """
    import tensorflow as tf

    shape = tf.shape(image)
    turned = tf.reverse(tf.reshape(image, [-1]), [0])
    return tf.reshape(tf.reverse(tf.reshape(turned, [1, -1, 3]), [1]), shape)


def num_examples(data_dir: str, split: str) -> int:
    return load_manifest(data_dir).split(split, data_dir).examples


def read_columns(data_dir: str, split: str, keys: list[str], *, batch: int = 256) -> dict[str, list]:
    """Non-image features of every record of a split, without decoding any image.

    Args:
        data_dir: A build folder.
        split: Split name.
        keys: Feature keys such as ``label/index``, ``image/sha256``, ``meta/specimen``.
        batch: Records parsed per step (memory, not results).

    Returns:
        ``{key: [value per record]}``; list-valued features give Python lists, bytes are decoded
        to ``str``; a key absent from a record gives an empty list (or None for scalars).
    """
    import tensorflow as tf

    manifest = load_manifest(data_dir)
    kinds = {"int": tf.int64, "float": tf.float32, "bytes": tf.string}
    fixed = {
        spec.IMAGE_HEIGHT: tf.int64,
        spec.IMAGE_WIDTH: tf.int64,
        spec.IMAGE_CHANNELS: tf.int64,
        spec.IMAGE_PHASH: tf.int64,
    }
    desc: dict[str, Any] = {}
    for key in keys:
        if key.startswith(spec.META_PREFIX):
            kind = manifest.meta_types.get(key[len(spec.META_PREFIX) :], "bytes")
            desc[key] = tf.io.RaggedFeature(kinds[kind])
        elif key in (spec.LABEL_INDEX,):
            desc[key] = tf.io.RaggedFeature(tf.int64)
        elif key.startswith(spec.QUALITY_PREFIX):
            desc[key] = tf.io.RaggedFeature(tf.float32)
        elif key in fixed:
            desc[key] = tf.io.RaggedFeature(fixed[key])
        else:
            desc[key] = tf.io.RaggedFeature(tf.string)
    paths = manifest.shard_paths(data_dir, split)
    out: dict[str, list] = {k: [] for k in keys}
    if not paths:
        return out
    # Raw records carry the image bytes: small batches, two in flight, so memory stays flat in the
    # number of records (4096-record batches parsed in parallel peaked above 2 GiB at 100k images).
    ds = tf.data.TFRecordDataset(paths, num_parallel_reads=min(2, len(paths))).batch(batch)
    ds = ds.map(lambda r: tf.io.parse_example(r, desc), num_parallel_calls=2, deterministic=True).prefetch(1)
    list_keys = (spec.LABEL_INDEX, spec.LABEL_NAME, spec.IMAGE_REPAIRS)
    try:
        for parsed in ds:
            for key in keys:
                for row in parsed[key].to_list():
                    row = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in row]
                    out[key].append(row if key in list_keys else (row[0] if row else None))
    except tf.errors.OpError as exc:  # a shard vanished or is cut short since the manifest was written
        detail = exc.message.split("}}")[-1].strip().splitlines()[0][:160]
        raise InputError(
            f"{data_dir}: cannot read split {split!r} ({detail}); "
            "run `pipecheck verify` and copy or rebuild the dataset"
        ) from None
    return out
