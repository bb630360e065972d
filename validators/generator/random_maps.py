"""Random maps in a ``tf.data`` source whose draws repeat every epoch (read from its graph).

Two ways, both silent, both real:

* **below ``cache()``** (``generator.augmentation_before_cache``). ``Dataset.cache()`` stores the
  elements of the first pass and replays them in every later one, so a ``map`` below it that draws
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
  by a ``shuffle()`` that reshuffles each epoch (``image_dataset_from_directory(shuffle=True)``,
  ``list_files``, ``ds.shuffle(n).map(augment)``) with no ``cache()`` between: the draws repeat but
  meet other images, so each image's augmentation still changes from epoch to epoch.

A map function counts as random when its graph (nested functions included) holds a stateful random
op, or a stateless one whose seed comes from state the call advances (a Keras ``SeedGenerator``
variable, a ``tf.random.Generator``). Stateless ops seeded by the data or by a constant
(``stateless_random_*`` with ``Dataset.counter()`` seeds, as the TF augmentation tutorial does) give
the same values on every pass by design, and random ``filter`` predicates (a random split) are meant
to be frozen: neither is reported. A walk of the batches cannot tell frozen augmentation from none;
the dataset's own structure can.
"""

from __future__ import annotations

import re
from typing import Any

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


def _function_name(wrapper: Any) -> str:
    """The user's name of a map function (``load_image_train``), from TensorFlow's traced name."""
    name = wrapper.function.name
    name = name.decode() if isinstance(name, bytes) else str(name)
    m = re.search(r"Dataset_\w+?_(\w+)_\d+$", name)
    return m.group(1) if m else name


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


def _reshuffled_upstream(node: Any, limit: int = 512) -> bool:
    """Whether ``node`` reads from a ``shuffle()`` that reshuffles on every iterator, with no
    ``cache()`` between (a cache replays the first epoch's order).
    """
    stack, seen = [node], set()
    while stack and len(seen) < limit:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        kind = type(current).__name__
        if current is not node:
            if kind == "CacheDataset":
                continue
            if kind == "_ShuffleDataset" and getattr(current, "_reshuffle_each_iteration", False) is True:
                return True
        try:
            stack.extend(current._inputs())
        except Exception:  # noqa: BLE001 - a dataset type without inputs, or a private API change
            pass
    return False


def _names(hits: list[dict]) -> str:
    return ", ".join(f"{_shown(h['function'])} ({', '.join(_drawing(h['random_ops']))})" for h in hits)


def random_map_findings(src: Source, subject: str) -> list[Finding]:
    """Random maps of a ``tf.data`` source whose draws repeat every epoch: one
    ``augmentation_before_cache`` per ``cache()`` with random maps below it, and one
    ``augmentation_repeats_each_epoch`` for fixed-seed maps outside those; [] for other sources.
    """
    if src.kind != "tf.data":
        return []
    out, cached = [], set()
    for cache in (n for n in dataset_nodes(src.obj) if type(n).__name__ == "CacheDataset"):
        hits = [(node, hit) for node, hit in _random_maps(cache, random_ops) if node is not cache]
        cached |= {id(node) for node, _ in hits}
        if hits:
            where = "a file" if _cache_file(cache) else "memory"
            out.append(
                AUGMENTATION_BEFORE_CACHE.finding(
                    f"{subject}: {_names([h for _, h in hits])} draws random numbers before cache(), which keeps "
                    f"the first epoch's results in {where} and replays them: every later epoch sees the same "
                    "augmented images, so the augmentation is frozen after one epoch",
                    subject=subject,
                    evidence={"maps": [h for _, h in hits]},
                )
            )
    if src.infinite:  # one iterator for the whole fit: the seeded sequence runs on
        return out
    seeded = [
        hit
        for node, hit in _random_maps(src.obj, fixed_seed_ops)
        if id(node) not in cached and not _reshuffled_upstream(node)
    ]
    if seeded:
        out.append(
            AUGMENTATION_REPEATS_EACH_EPOCH.finding(
                f"{subject}: {_names(seeded)} draws with a fixed seed (tf.random.set_seed, "
                "keras.utils.set_random_seed or seed=), and model.fit starts a new iterator of this finite "
                "dataset every epoch, which restarts the sequence on the images in the same order: every "
                "epoch sees the first epoch's augmentation again",
                subject=subject,
                evidence={"maps": seeded},
            )
        )
    return out
