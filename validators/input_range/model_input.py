"""What a model's backbone actually receives: the user's model built, its input stage found and run.

Many correct models take raw [0, 255] batches and preprocess inside: the TensorFlow transfer-learning
tutorial calls ``mobilenet_v2.preprocess_input`` on the model's input, others start with
``Rescaling``/``Normalization`` layers, a ``Lambda(preprocess_input)``, or a custom weightless layer.
Judging the data as fed would call those pipelines raw. :func:`input_stage` walks the model from its
input while each step is preprocessing (Keras preprocessing layers, ``Lambda``, plain ops on the input
tensor, weightless custom layers, nested models made only of those) and stops at the first step that
is not: the backbone (a nested ``keras.applications`` model) or the first layer with weights. The
stage's output is what the backbone receives, and that is what ``input_range`` judges. A stage is only
used when a backbone is where it ends (a nested model with weights, or a model named by a
``keras.applications`` constructor): a custom network's first ``Rescaling`` says nothing about what a
backbone expects, so such a model is judged on the data as fed.

A keras-hub task (``keras_hub.models.ImageClassifier`` and its kin) keeps its ``preprocessor`` (an
``ImageClassifierPreprocessor`` wrapping an ``ImageConverter``: resize, ``scale``, ``offset``) outside
its graph: ``fit``/``evaluate``/``predict`` map the task's ``preprocess_samples`` over the data before
the graph sees it. The walk cannot see that step, so the stage starts with it: the probe batch goes
through the task's own ``preprocess_samples``, then through the graph's steps. An ``ImageConverter``
called as a layer inside a functional model needs nothing special: it is a weightless step of the walk.

Keras 3 only (the functional graph's operations and nodes); a model whose graph cannot be read this
way (subclassed models, several inputs) has no stage and is judged on the data as fed, which
``describe()`` says.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from pipecheck.pipeline.errors import InputError

_PREPROCESSING_MODULES = ("keras.src.layers.preprocessing.",)
_PASS_THROUGH_LAYERS = {"Lambda", "InputLayer", "Identity", "Activation"}


@dataclass
class InputStage:
    """The preprocessing steps a model applies before its backbone.

    Attributes:
        steps: Names of the steps, in order (``rescaling (Rescaling)``, ``true_divide``...).
        stops_at: The first step that is not preprocessing (the backbone, or the first weighted layer).
        fn: Maps a batch as fed to what ``stops_at`` receives; None when there are no steps.
        note: Why no stage could be read, when that is the case.
        untrained: The backbone's weights are freshly initialised (``weights=None``, never trained):
            every BatchNormalization layer in it still has its initial statistics (mean 0, variance
            1), which ImageNet weights never have. Then no pretrained input statistics are expected.
    """

    steps: list[str] = field(default_factory=list)
    stops_at: str | None = None
    fn: Callable[[np.ndarray], np.ndarray] | None = None
    note: str | None = None
    untrained: bool = False

    def describe(self) -> str:
        if self.note:
            return self.note
        if not self.steps:
            return f"none: the data reaches {self.stops_at or 'the model'} as fed"
        return " -> ".join(self.steps) + f" -> {self.stops_at}"

    @property
    def found(self) -> bool:
        """A backbone was found and a preprocessing stage leads to it."""
        return self.fn is not None

    def changes_values(self, x: np.ndarray) -> bool:
        """Whether the stage changes pixel values (not only their layout, as a flip or resize does)."""
        if self.fn is None:
            return False
        x = np.asarray(x, dtype="float32")
        y = np.asarray(self.fn(x), dtype="float32")
        if y.ndim != 4 or y.shape[-1] != x.shape[-1]:
            return True
        before = np.stack([x.min(axis=(0, 1, 2)), x.max(axis=(0, 1, 2)), x.mean(axis=(0, 1, 2))])
        after = np.stack([y.min(axis=(0, 1, 2)), y.max(axis=(0, 1, 2)), y.mean(axis=(0, 1, 2))])
        scale = max(float(x.max() - x.min()), 1e-6)
        return bool(np.abs(before - after).max() > 0.02 * scale)


def build_model(spec: Any, model_args: Iterable[str] | dict | None, offered: dict[str, Any]) -> Any:
    """Import ``module:factory`` and call it; arguments named like ``offered``'s keys get those values.

    Raises:
        InputError: The factory cannot be imported, raises, or returns something that is not a keras.Model.
    """
    import keras

    from pipecheck.validators.sources import import_object, parse_source_args

    if isinstance(spec, keras.Model):  # the Python API: the model itself
        return spec
    factory = (
        spec
        if callable(spec) and not isinstance(spec, str)
        else import_object(spec, "--model", example="mypkg.models:build")
    )
    if not callable(factory):
        raise InputError(f"--model {spec}: not a callable; point at a function that returns a keras.Model")
    kwargs = parse_source_args(model_args)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    for name, value in offered.items():
        if name in params and name not in kwargs and value is not None:
            kwargs[name] = value
    try:
        model = factory(**kwargs)
    except Exception as exc:  # noqa: BLE001 - user code
        raise InputError(
            f"--model {getattr(spec, '__qualname__', spec)}: calling it raised {type(exc).__name__}: {exc}; fix the factory or pass "
            "--model-arg K=V (PIPECHECK_DEBUG=1 shows the traceback)"
        ) from exc
    if not isinstance(model, keras.Model):
        raise InputError(f"--model {spec}: returned {type(model).__name__}, not a keras.Model")
    return model


def _is_preprocessing(op: Any) -> bool:
    """A step that only transforms pixel values or layout: no weights, not a backbone."""
    import keras

    cls = type(op)
    if not isinstance(op, keras.layers.Layer):
        return True  # a plain op on the input tensor: x / 127.5 - 1, ops.cast, preprocess_input's arithmetic
    if isinstance(op, keras.Model):
        inner = getattr(op, "layers", [])
        return bool(inner) and all(_is_preprocessing(layer) for layer in inner)
    if cls.__module__.startswith(_PREPROCESSING_MODULES):
        return True
    if cls.__module__.startswith("keras.src.legacy.layers") and cls.__name__ in ("RandomHeight", "RandomWidth"):
        return True  # tf.keras.layers.RandomWidth/RandomHeight in Keras 3.15 (keras-io SupCon, SimCLR)
    if cls.__name__ in _PASS_THROUGH_LAYERS and cls.__module__.startswith("keras."):
        return cls.__name__ != "Activation" or getattr(op, "activation", None) in (None, keras.activations.linear)
    # A user's own layer without weights before anything else (a PreprocessInput(Layer) wrapper).
    return not cls.__module__.startswith("keras.") and not op.weights


def _step_name(op: Any) -> str:
    return f"{op.name} ({type(op).__name__})"


_OWN_PREPROCESSING = ("Rescaling", "Normalization")


def _is_backbone(op: Any, model: Any) -> bool:
    """A nested model with weights (a ``keras.applications`` base called as a layer), or a layer of an
    inlined base: the model itself was named by a ``keras.applications`` constructor.
    """
    import keras

    if isinstance(op, keras.Model):
        return bool(op.weights)
    return _named_backbone(model)


def _named_backbone(model: Any) -> bool:
    """Named by a ``keras.applications`` constructor (``resnet50v2``, ``mobilenetv2_1.00_224``)."""
    from pipecheck.pipeline.backbones import normalize

    names = {b.name for b in _all_backbones()}
    own = normalize(getattr(model, "name", "") or "")
    return any(own.startswith(n) for n in names)


def _into_wrapper(outer: "InputStage", op: Any, backbone_preprocesses: bool, model: Any) -> "InputStage":
    """Enter a nested model that wraps the backbone (an encoder: augmentation or normalization, then a
    ``keras.applications`` model, as keras-io's SimCLR and supervised-contrastive examples build it):
    the stage continues inside it. A nested model that is a backbone itself, or has none inside, ends
    the stage as before; with none inside (a learned layer before the backbone, as keras-io's
    *Learning to Resize* puts its resizer before DenseNet121), the weights that say whether there are
    ImageNet statistics to match are those of the ``keras.applications`` models elsewhere in ``model``.
    """
    import keras

    if outer.note or not isinstance(op, keras.Model) or _named_backbone(op):
        return outer
    inner = _graph_stage(op, backbone_preprocesses)
    if inner.note or inner.stops_at is None:
        # No backbone found inside: the nested model's own BatchNormalization layers (a fresh head
        # around a VGG, say) say nothing about the backbone's weights; a named backbone after it does.
        return dataclasses.replace(outer, untrained=_named_backbones_untrained(model))
    first, second = outer.fn, inner.fn

    def apply(x: np.ndarray) -> np.ndarray:
        x = first(x) if first is not None else x
        return second(x) if second is not None else x

    return InputStage(
        steps=[*outer.steps, *inner.steps],
        stops_at=f"{inner.stops_at} in {op.name}",
        fn=apply if first is not None or second is not None else None,
        untrained=inner.untrained,
    )


def _named_backbones_untrained(model: Any) -> bool:
    """Whether ``model`` nests ``keras.applications`` models and every one holds its initial
    BatchNormalization statistics; False when it nests none.
    """
    import keras

    try:
        layers = list(model._flatten_layers(include_self=False, recursive=True))
    except (AttributeError, TypeError):
        layers = list(getattr(model, "layers", []))
    found = [layer for layer in layers if isinstance(layer, keras.Model) and _named_backbone(layer)]
    return bool(found) and all(untrained(b) for b in found)


def _all_backbones() -> list[Any]:
    from pipecheck.pipeline.backbones import all_backbones

    return all_backbones()


def input_stage(model: Any, backbone_preprocesses: bool = False) -> InputStage:
    """The preprocessing steps between ``model``'s image input and its backbone.

    Args:
        model: The user's Keras model.
        backbone_preprocesses: The backbone applies its own preprocessing as its first layers
            (EfficientNet, ConvNeXt, MobileNetV3: one or two ``Rescaling``/``Normalization``
            layers). Where the backbone is not a nested model but inlined in the model's graph (the
            model is the backbone, or it was built with ``input_tensor=``), those layers belong to the
            backbone, so the stage stops before them.
    """
    return _after_task_preprocessor(model, _graph_stage(model, backbone_preprocesses))


def untrained(backbone: Any) -> bool:
    """Has every BatchNormalization layer in ``backbone`` its initial statistics (and is there one)?"""
    import keras

    try:
        layers = list(backbone._flatten_layers(include_self=False, recursive=True))
    except (AttributeError, TypeError):
        layers = list(getattr(backbone, "layers", []))
    norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        mean = keras.ops.convert_to_numpy(layer.moving_mean)
        variance = keras.ops.convert_to_numpy(layer.moving_variance)
        if np.any(mean != 0) or np.any(variance != 1):
            return False
    return bool(norms)


def _graph_stage(model: Any, backbone_preprocesses: bool) -> InputStage:
    import keras

    if isinstance(model, keras.Sequential):
        return _sequential_stage(model, backbone_preprocesses)
    operations = getattr(model, "_operations", None)
    nodes = getattr(model, "_nodes", None)
    inputs = getattr(model, "inputs", None)
    if operations is None or nodes is None or not inputs:
        return InputStage(note="not read: a subclassed model has no graph to walk; judged on the data as fed")
    if len(inputs) != 1:
        return InputStage(note=f"not read: the model has {len(inputs)} inputs; judged on the data as fed")
    current = inputs[0]
    steps: list[str] = []
    walked: list[tuple[Any, Any]] = []  # (operation, its output tensor) per step
    stops_at, stop_op = None, None
    while True:
        consumers = [
            (op, node)
            for op in operations
            for i, node in enumerate(op._inbound_nodes)
            if f"{id(op)}_ib-{i}" in nodes and any(t is current for t in node.input_tensors)
        ]
        consumers = [(op, node) for op, node in consumers if type(op).__name__ != "InputLayer"]
        if len(consumers) != 1:
            stops_at = "several layers" if consumers else "the output"
            break
        op, node = consumers[0]
        if not _is_preprocessing(op) or len(node.output_tensors) != 1:
            stops_at, stop_op = _step_name(op), op
            break
        steps.append(_step_name(op) if isinstance(op, keras.layers.Layer) else op.name)
        current = node.output_tensors[0]
        walked.append((op, current))
    if backbone_preprocesses and stop_op is not None and not isinstance(stop_op, keras.Model):
        cut = _own_prefix(walked)
        if cut:
            stops_at = steps[len(walked) - cut]
            del steps[len(walked) - cut :], walked[len(walked) - cut :]
            current = walked[-1][1] if walked else inputs[0]
    if stop_op is None or not _is_backbone(stop_op, model):
        return InputStage(
            note=f"no keras.applications backbone where the preprocessing ends ({stops_at}): judged on the data as fed"
        )
    fresh = untrained(stop_op if isinstance(stop_op, keras.Model) else model)
    if not steps:
        return _into_wrapper(InputStage(stops_at=stops_at, untrained=fresh), stop_op, backbone_preprocesses, model)
    try:
        stage_model = keras.Model(inputs[0], current)
    except Exception as exc:  # noqa: BLE001 - an unusual graph: say so and judge the data as fed
        return InputStage(note=f"not read ({type(exc).__name__}: {exc}); judged on the data as fed")
    outer = InputStage(steps=steps, stops_at=stops_at, fn=_runner(stage_model), untrained=fresh)
    return _into_wrapper(outer, stop_op, backbone_preprocesses, model)


def _task_preprocessor(model: Any) -> tuple[Any, Callable[..., Any]] | None:
    """The preprocessor a keras-hub task applies to ``x`` before its graph, and the hook that applies it.

    keras-hub's ``PipelineModel`` (every ``Task``) maps ``preprocess_samples(x, y, sample_weight)`` over
    the data in ``fit``/``evaluate``/``predict``; ``preprocessor`` is None when the task applies none.
    Read by that contract, not by class name, so every keras-hub task and its subclasses qualify.
    """
    preprocessor = getattr(model, "preprocessor", None)
    hook = getattr(model, "preprocess_samples", None)
    if preprocessor is None or not callable(hook):
        return None
    return preprocessor, hook


def _after_task_preprocessor(model: Any, stage: InputStage) -> InputStage:
    """``stage`` preceded by the task's own preprocessor, where the model has one and a backbone was found."""
    found = _task_preprocessor(model)
    if found is None or stage.note or stage.stops_at is None:
        return stage
    preprocessor, hook = found
    name = getattr(preprocessor, "name", None) or getattr(preprocessor, "__name__", "preprocessor")
    step = f"{name} ({type(preprocessor).__name__}, applied by {type(model).__name__}.preprocess_samples)"
    graph = stage.fn

    def apply(x: Any, training: bool = False) -> Any:
        out = hook(x)  # x alone: the task returns x alone (keras.utils.pack_x_y_sample_weight)
        if isinstance(out, (tuple, list)):
            out = out[0]
        out = np.asarray(out.numpy() if hasattr(out, "numpy") else out, dtype="float32")
        return graph(out) if graph is not None else out

    return InputStage(steps=[step, *stage.steps], stops_at=stage.stops_at, fn=_runner(apply), untrained=stage.untrained)


def _own_prefix(walked: list[tuple[Any, Any]]) -> int:
    """How many trailing steps are a backbone's own Rescaling/Normalization prefix (at most two)."""
    n = 0
    for op, _ in reversed(walked[-2:]):
        if type(op).__name__ not in _OWN_PREPROCESSING:
            break
        n += 1
    return n


def _sequential_stage(model: Any, backbone_preprocesses: bool) -> InputStage:
    prefix = []
    stops_at, stop_layer = "the output", None
    for layer in model.layers:
        if not _is_preprocessing(layer):
            stops_at, stop_layer = _step_name(layer), layer
            break
        prefix.append(layer)
    if backbone_preprocesses and stop_layer is not None:
        import keras

        if not isinstance(stop_layer, keras.Model):
            cut = _own_prefix([(layer, None) for layer in prefix])
            if cut:
                stops_at = _step_name(prefix[len(prefix) - cut])
                del prefix[len(prefix) - cut :]
    if stop_layer is None or not _is_backbone(stop_layer, model):
        return InputStage(
            note=f"no keras.applications backbone where the preprocessing ends ({stops_at}): judged on the data as fed"
        )
    import keras

    fresh = untrained(stop_layer if isinstance(stop_layer, keras.Model) else model)
    if not prefix:
        return _into_wrapper(InputStage(stops_at=stops_at, untrained=fresh), stop_layer, backbone_preprocesses, model)

    def apply(x: Any, training: bool = False) -> Any:
        for layer in prefix:
            x = layer(x, training=training)
        return x

    outer = InputStage(
        steps=[_step_name(layer) for layer in prefix], stops_at=stops_at, fn=_runner(apply), untrained=fresh
    )
    return _into_wrapper(outer, stop_layer, backbone_preprocesses, model)


def _runner(call: Callable[..., Any]) -> Callable[[np.ndarray], np.ndarray]:
    def run(x: np.ndarray) -> np.ndarray:
        out = call(np.asarray(x, dtype="float32"), training=False)
        return np.asarray(out.numpy() if hasattr(out, "numpy") else out)

    return run


def through_stage(batches: Iterable[Any], stage: InputStage) -> Iterator[Any]:
    """Each ``(x, y[, w])`` batch with ``x`` replaced by what the backbone receives."""
    for batch in batches:
        if stage.fn is None:
            yield batch
            continue
        parts = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
        try:
            x = stage.fn(parts[0])
        except Exception as exc:  # noqa: BLE001 - the user's layers on the user's data
            raise InputError(
                f"--model: the model's input stage ({stage.describe()}) failed on a batch of shape "
                f"{np.shape(parts[0])}: {type(exc).__name__}: {exc}; build the model for this input size "
                "(its factory gets input_shape)"
            ) from exc
        yield (x, *parts[1:])
