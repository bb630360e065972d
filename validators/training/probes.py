"""Measurements on a Keras 3 model and a fixed probe batch, shared by the callback and the CLI check.

Plain numbers out (numpy/floats); the judgement (thresholds → findings) lives in
``judge.py``. Only Keras 3 APIs (``keras.ops``, ``stateless_call``) are used, so these run on
the TensorFlow, JAX and PyTorch backends; nothing here changes the model's state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

_EPS = 1e-12


def to_numpy(x: Any) -> np.ndarray:
    """Any backend tensor/variable → numpy array (host copy)."""
    if hasattr(x, "value") and not isinstance(x, np.ndarray):
        x = x.value
    return np.asarray(keras.ops.convert_to_numpy(x))


# ---------------------------------------------------------------------------------------------
# Layers
def leaf_layers(model) -> list:
    """Layers without sublayers, depth first, so a nested backbone's layers are reported by name."""
    out = []
    for layer in model.layers:
        if getattr(layer, "layers", None):
            out.extend(leaf_layers(layer))
        else:
            out.append(layer)
    return out


def feeds_batch_norm(model) -> set[str]:
    """Names of leaf layers whose every consumer is a BatchNormalization layer (a conv without
    activation before its BN, as every keras.applications stem is built). Their weights are scale
    invariant: the BN undoes their scale, so ||g|| / ||W|| grows as ||W|| shrinks without any harm to
    training (and any step that grows ||W|| slows the next), and a large ratio there says nothing
    about exploding gradients.
    """
    import keras

    out = set()
    for layer in leaf_layers(model):
        consumers = [getattr(node, "operation", None) for node in getattr(layer, "_outbound_nodes", [])]
        if consumers and all(isinstance(c, keras.layers.BatchNormalization) for c in consumers):
            out.add(layer.name)
    return out


def frozen_names(model, frozen: tuple[str, ...] | list[str]) -> set[str]:
    """Names of leaf layers declared frozen, directly or through a nested model's name."""
    declared = set(frozen)
    names: set[str] = set()

    def walk(layers, inherited: bool) -> None:
        for layer in layers:
            hit = inherited or layer.name in declared
            if getattr(layer, "layers", None):
                walk(layer.layers, hit)
            elif hit:
                names.add(layer.name)

    walk(model.layers, False)
    return names


def activation_name(layer) -> str:
    """'relu', 'softmax', 'sigmoid', 'linear', ... for a layer, '' when it has none."""
    cls = type(layer).__name__
    if cls == "ReLU":
        slope = float(getattr(layer, "negative_slope", 0.0) or 0.0)
        return "relu" if slope == 0.0 else "leaky_relu"
    if cls == "Softmax":
        return "softmax"
    act = getattr(layer, "activation", None)
    if act is None:
        return ""
    return getattr(act, "__name__", str(act))


def output_layer(model):
    """The layer producing the model's (single) output; nested models are descended."""
    layer = model.layers[-1]
    while getattr(layer, "layers", None):
        layer = layer.layers[-1]
    return layer


def bn_layers(model) -> list:
    return [layer for layer in leaf_layers(model) if type(layer).__name__ == "BatchNormalization"]


def trainable_by_layer(model) -> dict[str, list]:
    """Trainable variables grouped by the leaf layer that owns them."""
    out: dict[str, list] = {}
    for layer in leaf_layers(model):
        if layer.trainable_weights:
            out[layer.name] = list(layer.trainable_weights)
    return out


def snapshot(groups: dict[str, list]) -> dict[str, list[np.ndarray]]:
    return {name: [to_numpy(v) for v in vs] for name, vs in groups.items()}


def change_ratios(before: dict[str, list[np.ndarray]], after: dict[str, list[np.ndarray]]) -> dict[str, float]:
    """Per layer ||W_after - W_before|| / ||W_before|| over all its trainable tensors."""
    out = {}
    for name, old in before.items():
        new = after.get(name)
        if new is None:
            continue
        diff = math.sqrt(sum(float(np.sum((n.astype(np.float64) - o) ** 2)) for o, n in zip(old, new)))
        norm = math.sqrt(sum(float(np.sum(o.astype(np.float64) ** 2)) for o in old))
        out[name] = diff / max(norm, _EPS) if norm > 0 else (0.0 if diff == 0 else math.inf)
    return out


def all_finite(arrays) -> bool:
    return all(bool(np.all(np.isfinite(a))) for a in arrays)


# ---------------------------------------------------------------------------------------------
# Loss
@dataclass
class LossInfo:
    """What the compiled loss expects: kind ('categorical', 'sparse', 'binary' or 'other') and logits."""

    fn: Any
    name: str
    kind: str
    from_logits: bool
    label_smoothing: float = 0.0


def loss_info(model) -> LossInfo | None:
    """Read the compiled loss; None when there is none or it is per-output (dict/list)."""
    loss = getattr(model, "loss", None)
    if loss is None or isinstance(loss, (dict, list, tuple)):
        return None
    fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    cfg: dict = {}
    if hasattr(fn, "get_config"):
        try:
            cfg = fn.get_config() or {}
        except Exception:  # a custom Loss without get_config still works as a callable
            cfg = {}
    name = str(cfg.get("name") or getattr(fn, "__name__", "") or type(fn).__name__).lower()
    if "sparse" in name:
        kind = "sparse"
    elif "binary" in name:
        kind = "binary"
    elif "categorical" in name:
        kind = "categorical"
    else:
        kind = "other"
    try:
        smoothing = float(cfg.get("label_smoothing") or 0.0)
    except (TypeError, ValueError):
        smoothing = 0.0
    return LossInfo(fn, name, kind, bool(cfg.get("from_logits", False)), smoothing)


def loss_floor(info: LossInfo, n_outputs: int) -> float:
    """The lowest loss a perfect model can reach: 0, or under label smoothing the entropy of the
    smoothed target (0.42 for 0.1 on 6 classes), which no amount of training goes below.
    """
    eps = info.label_smoothing
    if not 0.0 < eps < 1.0:
        return 0.0
    if info.kind == "categorical" and n_outputs > 1:
        true, other = 1.0 - eps + eps / n_outputs, eps / n_outputs
        return float(-true * math.log(true) - (n_outputs - 1) * other * math.log(other))
    if info.kind == "binary":
        low = eps / 2.0
        return float(-(1.0 - low) * math.log(1.0 - low) - low * math.log(low))
    return 0.0


def align_labels(y: np.ndarray, n_outputs: int) -> np.ndarray:
    """Class ids (batch,) for one output unit as a (batch, 1) column, as Keras' Loss classes align
    them; the bare loss functions would broadcast (batch,) against (batch, 1) to (batch, batch).
    """
    y = np.asarray(y)
    return y.reshape(-1, 1) if y.ndim == 1 and n_outputs == 1 else y


def loss_value(info: LossInfo, y: np.ndarray, y_pred: Any) -> float:
    shape = tuple(y_pred.shape)
    if len(shape) == 2:
        y = align_labels(y, int(shape[-1]))
    value = info.fn(keras.ops.convert_to_tensor(y), y_pred)
    return float(np.mean(to_numpy(value)))


def expected_init_loss(info: LossInfo, y: np.ndarray, n_outputs: int) -> tuple[float, float] | None:
    """(low, high) band of the loss an untrained model should have; None if unknown for this loss."""
    if info.kind in ("categorical", "sparse") and n_outputs > 1:
        return math.log(n_outputs), math.log(n_outputs)
    if info.kind == "binary":
        p = np.clip(np.mean(np.asarray(y, dtype=np.float64).reshape(len(y), -1), axis=0), 1e-6, 1 - 1e-6)
        prior = float(np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p))))
        return prior, math.log(2)
    return None


def as_probabilities(y_pred: np.ndarray, info: LossInfo | None) -> np.ndarray:
    """Predictions as probabilities, applying softmax/sigmoid when the loss says they are logits."""
    if info is None or not info.from_logits:
        return y_pred
    if info.kind == "binary" or y_pred.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-y_pred))
    z = y_pred - y_pred.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Probes on the fixed batch
def predict(model, x: np.ndarray, *, training: bool = False) -> np.ndarray:
    """Outputs without side effects: training mode goes through ``stateless_call`` so BatchNorm
    moving statistics and dropout seeds of the real model are left untouched.
    """
    # A subclassed model whose call() has no `training` argument must not be given one.
    kwargs = {"training": training} if getattr(model, "_call_has_training_arg", True) else {}
    if not training:
        return to_numpy(model(x, **kwargs))
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    out, _ = model.stateless_call(trainable, non_trainable, x, **kwargs)
    return to_numpy(out)


def output_spread(y_pred: np.ndarray) -> float:
    """Std across samples relative to (|mean| + std), averaged over outputs: 0 = same for every input."""
    flat = y_pred.reshape(len(y_pred), -1).astype(np.float64)
    std = flat.std(axis=0)
    mean = np.abs(flat.mean(axis=0))
    return float(np.mean(std / (mean + std + _EPS)))


def tv_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Mean total-variation distance between two batches of predicted distributions."""
    p = p.reshape(len(p), -1)
    q = q.reshape(len(q), -1)
    if p.shape[-1] == 1:  # one sigmoid unit: its two-class distribution
        return float(np.mean(np.abs(p - q)))
    return float(np.mean(0.5 * np.abs(p - q).sum(axis=-1)))


class ActivationProbe:
    """One inference-mode pass that returns the outputs of ReLU layers and the inputs of BN layers.

    Built once as functional sub-models: one for the model's own layers, and one per nested model (a
    backbone called inside the model) fed with what that nested model receives. ``ok`` is False (with
    ``why``) for graphs that cannot be tapped (subclassed models, nested models without an input
    shape, shared nested models); the probes that need it are then skipped.
    """

    def __init__(self, model) -> None:
        self.relu: list = []
        self.bn: list = []
        self.nested: list[tuple["ActivationProbe", Any]] = []
        self.ok, self.why = True, ""
        self._sub = None
        try:
            for layer in model.layers:
                if getattr(layer, "layers", None):
                    inner = ActivationProbe(layer)
                    if not inner.ok:
                        self.ok, self.why = False, inner.why
                        return
                    if inner.relu or inner.bn or inner.nested:
                        nodes = layer._inbound_nodes
                        if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
                            raise ValueError(f"nested model '{layer.name}' is shared or has several inputs")
                        self.nested.append((inner, nodes[0].input_tensors[0]))
                elif activation_name(layer) == "relu":
                    self.relu.append(layer)
                elif type(layer).__name__ == "BatchNormalization":
                    self.bn.append(layer)
            outs = (
                [layer.output for layer in self.relu] + [layer.input for layer in self.bn] + [t for _, t in self.nested]
            )
            if outs:
                inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
                self._sub = keras.Model(inputs, outs)
        except Exception as exc:  # report, never crash the user's run
            self.ok = False
            self.why = f"cannot tap the layers of '{model.name}' ({type(exc).__name__}: {str(exc)[:120]})"
            self.relu, self.bn, self.nested = [], [], []

    def run(self, x) -> tuple[dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]]]:
        """(dead fraction per ReLU layer, (batch mean, batch var) per BN layer's input)."""
        if self._sub is None:
            return {}, {}
        outs = self._sub(x, training=False)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        n_relu, n_bn = len(self.relu), len(self.bn)
        dead, stats = {}, {}
        for layer, a in zip(self.relu, outs[:n_relu]):
            a = to_numpy(a)
            units = a.reshape(-1, a.shape[-1])  # channels last: a unit = a channel / neuron
            dead[layer.name] = float(np.mean(np.all(units <= 0, axis=0)))
        for layer, a in zip(self.bn, outs[n_relu : n_relu + n_bn]):
            a = to_numpy(a)
            axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
            a = np.moveaxis(a, axis, -1).reshape(-1, a.shape[axis]).astype(np.float64)
            stats[layer.name] = (a.mean(axis=0), a.var(axis=0))
        for (inner, _), a in zip(self.nested, outs[n_relu + n_bn :]):
            d, s = inner.run(a)
            dead.update(d)
            stats.update(s)
        return dead, stats


def bn_stat_gap(layer, batch_mean: np.ndarray, batch_var: np.ndarray) -> float:
    """Standardised mismatch between a BN layer's moving statistics and a batch's statistics:
    mean over channels of |mu_b - mu_m| / sqrt(var_m + eps) + |ln(var_b / var_m)| / 2.
    """
    mm = to_numpy(layer.moving_mean).astype(np.float64)
    mv = to_numpy(layer.moving_variance).astype(np.float64)
    eps = float(layer.epsilon)
    shift = np.abs(batch_mean - mm) / np.sqrt(mv + eps)
    scale = 0.5 * np.abs(np.log((batch_var + eps) / (mv + eps)))
    return float(np.mean(shift + scale))
