"""Random maps in a ``tf.data`` source whose draws repeat every epoch (read from its graph).

Three ways, all silent, all real (each measured: two iterators, the same images get the same
augmentation):

* **below ``cache()`` or ``snapshot()``** (``generator.augmentation_before_cache``). Both store the
  elements of the first pass and replay them in every later one, so a ``map`` below them that draws
  random numbers (a random flip or crop, Keras ``RandomFlip``/``RandomRotation`` layers,
  ``tf.random.Generator`` noise) draws once: tensorflow#47755, in the TF segmentation tutorial of 2021.
  The ``Dataset.cache`` docs and the tf.data performance guide say to cache before random work.
* **under a fixed seed** (``generator.augmentation_repeats_each_epoch``). With ``tf.random.set_seed``
  (or ``keras.utils.set_random_seed``, or an op's own ``seed=``) the TF 1.x random ops behind
  ``tf.random.uniform`` and ``tf.image.random_*`` get a fixed seed, and every new iterator of the
  dataset restarts their sequence. ``model.fit`` makes a new iterator each epoch of a finite
  dataset, so every epoch gets the first epoch's flips and crops (tensorflow#35682, #44195). An
  infinite dataset (``.repeat()`` with ``steps_per_epoch``) keeps one iterator and is not reported,
  nor are ``tf.random.Generator`` draws and Keras layers, whose seed state moves on. Nor is a map fed
  by an order that changes per iterator with no cache between (``shuffle()`` reshuffling, as in
  ``image_dataset_from_directory(shuffle=True)`` and ``list_files``; ``shuffle_and_repeat``;
  ``sample_from_datasets(..., rerandomize_each_iteration=True)``): the draws repeat but meet other
  images. A parallel map (``num_parallel_calls``) hands the replayed draws to whichever images are in
  flight, so only part repeats, more with fewer cores: an info.
* **seeded per element** (``generator.augmentation_repeats_each_epoch`` too). Stateless ops
  (``tf.image.stateless_random_*``) seeded from the element or a constant give an element the same
  draw on every pass: option 1 of the TF data-augmentation tutorial zips a ``Dataset.counter()`` with
  the images before shuffling, so image k gets seed (k, k) every epoch. Not reported when the
  elements themselves change per iterator: seeds from ``Dataset.random(rerandomize_each_iteration=True)``
  or from an upstream map that draws anew, a counter zipped with reshuffled images. Maps over seeds
  or labels only (no image-shaped component, as ``sample_from_datasets``' selector) are not judged.

A map function counts as random when its graph (nested functions included) holds a stateful random
op, or a stateless one whose seed comes from state the call advances (a Keras ``SeedGenerator``
variable, a ``tf.random.Generator``). Random ``filter`` predicates (a random split) are meant to be
frozen and are not judged. Out of reach of the graph: augmentation in Python behind
``tf.numpy_function``/``tf.py_function`` (albumentations), and datasets built inside an
``interleave``/``flat_map`` function. A walk of the batches cannot tell frozen augmentation from none;
the dataset's own structure can.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from pipecheck.validators import registry
from pipecheck.validators.findings import Finding
from pipecheck.validators.sources import Source, dataset_nodes

AUGMENTATION_BEFORE_CACHE = registry.define(
    "generator.augmentation_before_cache",
    "warning",
    "A random map runs before cache(): every epoch after the first replays the first epoch's draws.",
    "Cache the decoded images, then augment: ds.map(load).cache().map(augment) (or augment inside the model)",
)
AUGMENTATION_REPEATS_EACH_EPOCH = registry.define(
    "generator.augmentation_repeats_each_epoch",
    "warning",
    "A random map has a fixed seed and meets the images in the same order every epoch, so each epoch's new "
    "iterator replays the first epoch's augmentation.",
    "Draw from a tf.random.Generator (g = tf.random.Generator.from_seed(s); g.uniform(...)) or Keras "
    "augmentation layers, which move on under a fixed seed; or shuffle before the map (ds.shuffle(n).map(augment)); "
    "or keep one iterator: ds.repeat() with steps_per_epoch",
)

# Ops whose output changes from call to call by themselves.
_STATEFUL_RANDOM = frozenset(
    {
        "RandomUniform",
        "RandomUniformInt",
        "RandomStandardNormal",
        "TruncatedNormal",
        "ParameterizedTruncatedNormal",
        "RandomShuffle",
        "RandomGamma",
        "RandomPoisson",
        "RandomPoissonV2",
        "Multinomial",
        "RandomCrop",
        "SampleDistortedBoundingBox",
        "SampleDistortedBoundingBoxV2",
        "StatefulUniform",
        "StatefulUniformInt",
        "StatefulUniformFullInt",
        "StatefulStandardNormal",
        "StatefulStandardNormalV2",
        "StatefulTruncatedNormal",
        "StatefulRandomBinomial",
    }
)
# Ops that advance a seed state between calls: with them, stateless random ops draw anew each call.
_SEED_ADVANCE = frozenset(
    {"AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "RngReadAndSkip", "RngSkip"}
)
_STATELESS_RANDOM = re.compile(r"Stateless(Random|TruncatedNormal|Multinomial|SampleDistorted|ParameterizedTruncated)")


def _nodes(function: Any) -> list[Any]:
    """The NodeDefs of ``function`` (a ConcreteFunction) and of the functions it calls."""
    graph = function.graph.as_graph_def()
    nodes = list(graph.node)
    for nested in graph.library.function:
        nodes += list(nested.node_def)
    return nodes


def random_ops(function: Any) -> list[str]:
    """The ops that make ``function`` (a ConcreteFunction) draw anew per call, sorted; [] if none."""
    ops = {n.op for n in _nodes(function)}
    stateful = ops & _STATEFUL_RANDOM
    if stateful:
        return sorted(stateful)
    seeded = {op for op in ops if _STATELESS_RANDOM.match(op)}
    return sorted(seeded | (ops & _SEED_ADVANCE)) if seeded and ops & _SEED_ADVANCE else []


def fixed_seed_ops(function: Any) -> list[str]:
    """The stateful random ops of ``function`` that carry a seed (a global or an op seed), sorted:
    each new iterator of the dataset restarts their sequence.
    """
    return sorted(
        {n.op for n in _nodes(function) if n.op in _STATEFUL_RANDOM and (n.attr["seed"].i or n.attr["seed2"].i)}
    )


def input_determined_ops(function: Any) -> list[str]:
    """The stateless random ops of ``function`` when they are its only randomness, sorted: their seeds
    come from its input (a ``Dataset.counter()`` zipped in) or from constants, so the same element
    gets the same draw on every call; [] otherwise.
    """
    ops = {n.op for n in _nodes(function)}
    if ops & _STATEFUL_RANDOM or ops & _SEED_ADVANCE:
        return []
    return sorted(op for op in ops if _STATELESS_RANDOM.match(op))


def _function_name(wrapper: Any) -> str:
    """The user's name of a map function (``load_image_train``), from TensorFlow's traced name."""
    name = wrapper.function.name
    name = name.decode() if isinstance(name, bytes) else str(name)
    m = re.search(r"Dataset_(?:flat_map|parallel_interleave|interleave|map)_(.+)_\d+$", name)
    if not m:
        return name
    name = m.group(1)
    # a callable object is traced as "class<module>.<Class>" (a Keras layer, functools.partial)
    return name[len("class") :].rsplit(".", 1)[-1] if name.startswith("class") else name


def _shown(function: str) -> str:
    return "a lambda" if function == "lambda" else f"{function}()"


def _drawing(ops: list[str]) -> list[str]:
    """The ops that draw the numbers, without the seed bookkeeping around them."""
    return [op for op in ops if op not in _SEED_ADVANCE and not op.endswith("GetKeyCounter")] or ops


def _cache_file(node: Any) -> str:
    """The file a ``cache(filename)`` writes to; "" for an in-memory cache."""
    name = getattr(node, "_filename", "")
    name = name.numpy() if hasattr(name, "numpy") else name
    return name.decode() if isinstance(name, bytes) else str(name or "")


def _random_maps(root: Any, ops_of) -> list[tuple[Any, dict]]:
    """``(dataset, {function, dataset, random_ops})`` for each map at or below ``root`` whose
    function ``ops_of`` finds ops in.
    """
    hits = []
    for node in dataset_nodes(root):
        wrapper = getattr(node, "_map_func", None)
        if wrapper is None:
            continue
        try:
            ops = ops_of(wrapper.function)
        except Exception:  # noqa: BLE001 - a wrapper without a traced graph (private API change)
            continue
        if ops:
            hits.append(
                (node, {"function": _function_name(wrapper), "dataset": type(node).__name__, "random_ops": ops})
            )
    return hits


_CACHES = ("CacheDataset", "_SnapshotDataset")


def _is_cache(node: Any) -> bool:
    """``cache()`` or ``snapshot()``: both keep their first pass and replay it."""
    return type(node).__name__ in _CACHES


def _upstream(node: Any) -> Iterator[Any]:
    """The datasets ``node`` reads from, not below a cache (which replays its first pass)."""
    nodes = dataset_nodes(node, stop=_is_cache)
    next(nodes, None)
    yield from nodes


def _reorders(node: Any) -> bool:
    """A dataset that orders or picks its elements anew on every iterator: ``shuffle()`` with
    ``reshuffle_each_iteration`` (the default), ``shuffle_and_repeat``, ``Dataset.random`` with
    ``rerandomize_each_iteration`` (also behind ``sample_from_datasets(..., rerandomize_each_iteration=True)``).
    """
    kind = type(node).__name__
    return (
        (
            kind == "_ShuffleDataset"
            and getattr(node, "_reshuffle_each_iteration", False) is True
            and _int(getattr(node, "_buffer_size", None)) != 1  # shuffle(1) keeps the order
        )
        or kind == "_ShuffleAndRepeatDataset"
        or (kind == "_RandomDataset" and getattr(node, "_rerandomize", False) is True)
    )


def _reshuffled_upstream(node: Any) -> bool:
    """Whether ``node`` reads from a dataset that reorders per iterator, with no cache between."""
    return any(_reorders(n) for n in _upstream(node))


def _elements_vary(node: Any) -> bool:
    """Whether the elements ``node`` reads can differ from one iterator to the next: a random map
    upstream that moves on, a random stream that rerandomizes, or a zip whose sides are reordered
    apart (a counter zipped with reshuffled images meets other images each epoch).
    """
    for n in _upstream(node):
        if _reorders(n) and type(n).__name__ == "_RandomDataset":
            return True
        wrapper = getattr(n, "_map_func", None)
        if wrapper is not None:
            try:
                if random_ops(wrapper.function):
                    return True
            except Exception:  # noqa: BLE001 - a wrapper without a traced graph (private API change)
                return True
        if type(n).__name__ == "_ZipDataset":
            try:
                sides = n._inputs()
            except Exception:  # noqa: BLE001 - a private API change: assume it may vary
                return True
            if any(_reorders(side) or _reshuffled_upstream(side) for side in sides):
                return True
    return False


def _int(value: Any) -> int | None:
    """A scalar tensor or number as an int; None if it is neither."""
    try:
        return int(value.numpy() if hasattr(value, "numpy") else value)
    except (TypeError, ValueError):
        return None


def _reads_images(node: Any) -> bool:
    """Whether the map ``node`` receives an image or a batch of them (a component of rank 3 or more,
    or of unknown rank), not only seeds or labels (``sample_from_datasets``' own selector map).
    """
    try:
        import tensorflow as tf

        specs = tf.nest.flatten(node._input_dataset.element_spec)
    except Exception:  # noqa: BLE001 - a private API change: assume it may
        return True
    return any(
        getattr(spec, "shape", None) is None or spec.shape.rank is None or spec.shape.rank >= 3 for spec in specs
    )


def _parallel(node: Any) -> bool:
    """A map run with more than one call at a time (``num_parallel_calls`` N > 1 or AUTOTUNE)."""
    if type(node).__name__ != "_ParallelMapDataset":
        return False
    return _int(getattr(node, "_num_parallel_calls", None)) != 1


def _names(hits: list[dict]) -> str:
    return ", ".join(f"{_shown(h['function'])} ({', '.join(_drawing(h['random_ops']))})" for h in hits)


def _draw(hits: list[dict]) -> str:
    return "draws" if len(hits) == 1 else "draw"


_COUNTER_HINT = (
    "Make the seeds change per epoch: inside the map with a tf.random.Generator (rng = "
    "tf.random.Generator.from_seed(s); seed = rng.make_seeds(2)[0], the tutorial's option 2), or zip a stream that "
    "rerandomizes: tf.data.Dataset.random(seed=s, rerandomize_each_iteration=True).batch(2); or use Keras "
    "augmentation layers"
)


def random_map_findings(src: Source, subject: str) -> list[Finding]:
    """Random maps of a ``tf.data`` source whose draws repeat every epoch: one
    ``augmentation_before_cache`` per ``cache()``/``snapshot()`` with random maps below it, and for
    maps outside those ``augmentation_repeats_each_epoch``: a warning for fixed-seed maps that meet
    the images in the same order and for stateless ops seeded per element, an info for fixed-seed
    maps run in parallel (which mix the replayed draws among the images in flight); [] for other sources.
    """
    if src.kind != "tf.data":
        return []
    try:
        return _findings(src, subject)
    except Exception:  # noqa: BLE001 - tf.data internals (private attributes) changed: say nothing rather than crash
        return []


def _findings(src: Source, subject: str) -> list[Finding]:
    out, cached = [], set()
    for cache in (n for n in dataset_nodes(src.obj) if _is_cache(n)):
        hits = [
            (node, hit) for node, hit in _random_maps(cache, random_ops) if node is not cache and id(node) not in cached
        ]
        cached |= {id(node) for node, _ in hits}
        if hits:
            snapshot = type(cache).__name__ == "_SnapshotDataset"
            op = "snapshot()" if snapshot else "cache()"
            where = "files that later runs reuse too" if snapshot else "a file" if _cache_file(cache) else "memory"
            found = [h for _, h in hits]
            out.append(
                AUGMENTATION_BEFORE_CACHE.finding(
                    f"{subject}: {_names(found)} {_draw(found)} random numbers before {op}, which keeps "
                    f"the first epoch's results in {where} and replays them: every later epoch sees the same "
                    "augmented images, so the augmentation is frozen after one epoch",
                    subject=subject,
                    evidence={"maps": found, "cache": op},
                )
            )
    if src.infinite:  # one iterator for the whole fit: the seeded sequence runs on
        return out
    frozen, mixed = [], []
    for node, hit in _random_maps(src.obj, fixed_seed_ops):
        if id(node) in cached or _reshuffled_upstream(node):
            continue
        (mixed if _parallel(node) else frozen).append(hit)
    per_element = [
        hit
        for node, hit in _random_maps(src.obj, input_determined_ops)
        if id(node) not in cached and _reads_images(node) and not _elements_vary(node)
    ]
    if frozen:
        out.append(
            AUGMENTATION_REPEATS_EACH_EPOCH.finding(
                f"{subject}: {_names(frozen)} {_draw(frozen)} with a fixed seed (tf.random.set_seed, "
                "keras.utils.set_random_seed or seed=), and model.fit starts a new iterator of this finite "
                "dataset every epoch, which restarts the sequence on the images in the same order: every "
                "epoch sees the first epoch's augmentation again",
                subject=subject,
                evidence={"maps": frozen, "seed": "fixed"},
            )
        )
    if per_element:
        out.append(
            AUGMENTATION_REPEATS_EACH_EPOCH.finding(
                f"{subject}: {_names(per_element)} {_draw(per_element)} with stateless random ops whose seeds "
                "come with each element (a Dataset.counter() zipped in, as option 1 of the TF data-augmentation "
                "tutorial does) or are constants, and each image meets the same seed in every epoch's new "
                "iterator: every epoch sees the first epoch's augmentation again",
                subject=subject,
                evidence={"maps": per_element, "seed": "per element"},
                hint=_COUNTER_HINT,
            )
        )
    if mixed:
        out.append(
            AUGMENTATION_REPEATS_EACH_EPOCH.finding(
                f"{subject}: {_names(mixed)} {_draw(mixed)} with a fixed seed, and each epoch's new iterator "
                "restarts the sequence; the map's parallel calls hand the replayed draws to whichever images "
                "are in flight, so part of each image's augmentation repeats from epoch to epoch (more of it "
                "with fewer cores) instead of all of it",
                subject=subject,
                evidence={"maps": mixed, "seed": "fixed", "parallel": True},
                severity="info",
            )
        )
    return out
