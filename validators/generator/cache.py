"""Random augmentation placed before ``cache()`` in a ``tf.data`` source (read from its graph).

``Dataset.cache()`` stores the elements of the first pass and replays them in every later one. A
``map`` below it that draws random numbers (a random flip, crop, Keras ``RandomFlip``/``RandomRotation``
layers, ``tf.random.Generator`` noise) therefore draws once: every epoch after the first sees the
first epoch's flips and crops again, and the augmentation the user wrote is frozen (tensorflow#47755,
in the TF segmentation tutorial of 2021). The ``Dataset.cache`` docs and the tf.data performance guide
say to cache before random transformations. Nothing fails and the batches look augmented, so a
walk of the batches cannot tell it from a pipeline without augmentation; the dataset's own structure
can.

A map function counts as random when its graph (nested functions included) holds a stateful random
op, or a stateless one whose seed comes from state the call advances (a Keras ``SeedGenerator``
variable, a ``tf.random.Generator``). Stateless ops seeded by the data or by a constant
(``stateless_random_*`` with ``Dataset.counter()`` seeds, as the TF augmentation tutorial does) give
the same values on every pass with or without ``cache()``, and random ``filter`` predicates (a random
split) are meant to be frozen: neither is reported.
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


def random_ops(function: Any) -> list[str]:
    """The ops that make ``function`` (a ConcreteFunction) draw anew per call, sorted; [] if none."""
    graph = function.graph.as_graph_def()
    ops = {n.op for n in graph.node}
    for nested in graph.library.function:
        ops |= {n.op for n in nested.node_def}
    stateful = ops & _STATEFUL_RANDOM
    if stateful:
        return sorted(stateful)
    seeded = {op for op in ops if _STATELESS_RANDOM.match(op)}
    return sorted(seeded | (ops & _SEED_ADVANCE)) if seeded and ops & _SEED_ADVANCE else []


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


def cache_findings(src: Source, subject: str) -> list[Finding]:
    """``generator.augmentation_before_cache`` for each random map below a ``cache()`` of a
    ``tf.data`` source (one finding per cache); [] for other sources.
    """
    if src.kind != "tf.data":
        return []
    out = []
    for node in dataset_nodes(src.obj):
        if type(node).__name__ != "CacheDataset":
            continue
        hits = []
        for below in dataset_nodes(node):
            wrapper = getattr(below, "_map_func", None)
            if below is node or wrapper is None:
                continue
            try:
                ops = random_ops(wrapper.function)
            except Exception:  # noqa: BLE001 - a wrapper without a traced graph (private API change)
                continue
            if ops:
                hits.append({"function": _function_name(wrapper), "dataset": type(below).__name__, "random_ops": ops})
        if hits:
            names = ", ".join(f"{_shown(h['function'])} ({', '.join(_drawing(h['random_ops']))})" for h in hits)
            where = "a file" if _cache_file(node) else "memory"
            out.append(
                AUGMENTATION_BEFORE_CACHE.finding(
                    f"{subject}: {names} draws random numbers before cache(), which keeps the first "
                    f"epoch's results in {where} and replays them: every later epoch sees the same "
                    "augmented images, so the augmentation is frozen after one epoch",
                    subject=subject,
                    evidence={"maps": hits},
                )
            )
    return out
