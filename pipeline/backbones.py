"""The one table of backbones, computed from ``keras.applications`` itself so it cannot drift.

For every constructor in ``keras.applications`` (ResNet50, InceptionV3, EfficientNetB0, ...):

* the default and minimum input size are captured from the constructor's own call to
  ``imagenet_utils.obtain_input_shape`` (intercepted before any layer is built, so listing all
  backbones takes well under a second);
* ``preprocess_input`` of its module is probed with synthetic images and solved as a per-channel
  affine map ``out[c] = scale[c] * in[src[c]] + offset[c]``: the channel order, the scale and the
  offset are read from Keras, then checked on a random probe. The expected value range per output
  channel follows from mapping [0, 255].

Used by the reader (preprocessing, default size) and by the input-range validator (expected
ranges) alike.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

_FALLBACK_SIZE = (224, 32)  # MobileNetV3 validates its own shape: Keras documents 224, min 32.


@dataclass(frozen=True)
class Backbone:
    """Expected input of one ``keras.applications`` backbone.

    Attributes:
        name: Lower-case key used on the command line (``resnet50``, ``efficientnetb0``).
        constructor: The Keras constructor name (``ResNet50``).
        module: The ``keras.applications`` module whose ``preprocess_input`` applies.
        mode: ``caffe`` (BGR, mean-subtracted), ``tf`` ([-1, 1]), ``torch`` (ImageNet mean/std) or
            ``none`` (the model preprocesses itself; it expects raw [0, 255]).
        channel_order: ``RGB`` or ``BGR``: the order of the tensor the model expects.
        scale: Per output channel multiplier applied to raw pixel values.
        offset: Per output channel additive term.
        source_channel: For each output channel, which RGB input channel feeds it.
        default_size: Default square input side read from Keras.
        min_size: Smallest side Keras accepts for this backbone.
        in_model: True for the variant :meth:`fed_raw` returns: the user's model applies the
            preprocessing itself, so the data must be raw [0, 255].
    """

    name: str
    constructor: str
    module: str
    mode: str
    channel_order: str
    scale: tuple[float, float, float]
    offset: tuple[float, float, float]
    source_channel: tuple[int, int, int]
    default_size: int
    min_size: int
    in_model: bool = False

    @property
    def value_range(self) -> list[tuple[float, float]]:
        """(min, max) per output channel for inputs in [0, 255]."""
        out = []
        for s, o in zip(self.scale, self.offset):
            lo, hi = o, 255.0 * s + o
            out.append((min(lo, hi), max(lo, hi)))
        return out

    def fed_raw(self) -> "Backbone":
        """This backbone inside a model that preprocesses its input itself: it is fed raw [0, 255] RGB."""
        return replace(
            self,
            mode="none",
            channel_order="RGB",
            scale=(1.0, 1.0, 1.0),
            offset=(0.0, 0.0, 0.0),
            source_channel=(0, 1, 2),
            in_model=True,
        )

    def preprocess_function(self) -> Callable[[Any], Any]:
        """Keras' own ``preprocess_input`` for this backbone (imports Keras)."""
        import importlib

        return importlib.import_module(f"keras.applications.{self.module}").preprocess_input

    def undo_preprocessing(self, x: Any) -> Any:
        """The inverse of :meth:`preprocess_function`: ``(..., 3)`` values as the model receives them back to
        the RGB pixels in [0, 255] they were made from (float64, not clipped).

        caffe adds the ImageNet means back and turns BGR into RGB, tf maps ``(x + 1) * 127.5``, torch
        ``(x * std + mean) * 255``, ``none`` (and :meth:`fed_raw`) is the identity: each is the probed affine
        map solved backwards. Input made another way comes back visibly wrong (x/255 fed to a caffe backbone
        returns flat ImageNet-mean grey), which is what a report's thumbnails are for.
        """
        import numpy as np

        x = np.asarray(x, dtype="float64")
        out = np.empty_like(x)
        for k in range(3):
            out[..., self.source_channel[k]] = (x[..., k] - self.offset[k]) / self.scale[k]
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("in_model")  # a variant for one check run, not a property of the Keras backbone
        d["value_range"] = [list(r) for r in self.value_range]
        return d


class UnknownBackbone(ValueError):
    """Raised for a backbone name that keras.applications does not have."""


def normalize(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


@functools.lru_cache(maxsize=1)
def _constructors() -> dict[str, tuple[str, Callable[..., Any]]]:
    """``{normalized constructor name: (module, constructor)}`` for every keras.applications model."""
    import keras

    apps = keras.applications
    found: dict[str, tuple[str, Callable[..., Any]]] = {}
    for attr in dir(apps):
        fn = getattr(apps, attr)
        if not (attr[:1].isupper() and callable(fn)):
            continue
        key = normalize(attr)
        # The module users import: keras.applications.resnet50 for ResNet50 where it exists,
        # otherwise the public module named like the one that defines it (resnet, mobilenet_v3).
        candidates = [m for m in dir(apps) if normalize(m) == key]
        candidates.append(getattr(fn, "__module__", "").rsplit(".", 1)[-1])
        for module_name in candidates:
            module = getattr(apps, module_name, None)
            if inspect.ismodule(module) and hasattr(module, "preprocess_input"):
                found[key] = (module_name, fn)
                break
    return found


class _Captured(Exception):
    def __init__(self, default_size: int, min_size: int):
        super().__init__()
        self.default_size, self.min_size = default_size, min_size


def _input_sizes(fn: Callable[..., Any]) -> tuple[int, int]:
    """Run the constructor only until it asks ``obtain_input_shape`` for its default size."""
    from keras.src.applications import imagenet_utils

    original = imagenet_utils.obtain_input_shape

    def capture(input_shape, default_size, min_size, *args, **kwargs):
        raise _Captured(int(default_size), int(min_size))

    imagenet_utils.obtain_input_shape = capture
    try:
        fn(weights=None)
    except _Captured as got:
        return got.default_size, got.min_size
    except Exception:  # noqa: BLE001 - constructors that validate differently: use the fallback
        pass
    finally:
        imagenet_utils.obtain_input_shape = original
    return _FALLBACK_SIZE


def _probe_preprocessing(module_name: str) -> tuple[str, str, tuple, tuple, tuple]:
    """Solve ``preprocess_input`` as a per-channel affine map with a channel permutation."""
    import importlib

    import numpy as np

    pre = importlib.import_module(f"keras.applications.{module_name}").preprocess_input

    def run(pixels: np.ndarray) -> np.ndarray:
        return np.asarray(pre(pixels.astype("float32").copy()), dtype="float64")

    zero = run(np.zeros((1, 1, 1, 3)))[0, 0, 0]
    basis = np.stack([run(np.eye(3)[c][None, None, None] * 255.0)[0, 0, 0] - zero for c in range(3)])
    # basis[c_in, c_out]: how input channel c_in moves output channel c_out.
    source = tuple(int(np.argmax(np.abs(basis[:, c]))) for c in range(3))
    scale = tuple(float(basis[source[c], c] / 255.0) for c in range(3))
    offset = tuple(float(v) for v in zero)
    rng = np.random.default_rng(0)
    probe = rng.uniform(0, 255, size=(2, 4, 4, 3))
    predicted = np.stack([probe[..., source[c]] * scale[c] + offset[c] for c in range(3)], axis=-1)
    if not np.allclose(run(probe), predicted, atol=1e-3):
        raise RuntimeError(f"keras.applications.{module_name}.preprocess_input is not affine per channel")
    order = "BGR" if source == (2, 1, 0) else "RGB"
    if np.allclose(scale, 1.0) and np.allclose(offset, 0.0):
        mode = "none"
    elif order == "BGR" and np.allclose(scale, 1.0):
        mode = "caffe"
    elif np.allclose(scale, 1 / 127.5) and np.allclose(offset, -1.0):
        mode = "tf"
    else:
        mode = "torch"
    return mode, order, scale, offset, source


@functools.lru_cache(maxsize=None)
def _module_preprocessing(module_name: str):
    return _probe_preprocessing(module_name)


@functools.lru_cache(maxsize=None)
def get(name: str) -> Backbone:
    """The :class:`Backbone` for a name such as ``resnet50``, ``ResNet50`` or ``inception_v3``.

    Raises:
        UnknownBackbone: with the list of valid names, if Keras has no such constructor.
    """
    key = normalize(name)
    table = _constructors()
    if key not in table:
        raise UnknownBackbone(
            f"unknown backbone {name!r}; run `pipecheck backbones` to list them "
            f"(e.g. {', '.join(sorted(table)[:6])}, ...)"
        )
    module_name, fn = table[key]
    mode, order, scale, offset, source = _module_preprocessing(module_name)
    default_size, min_size = _input_sizes(fn)
    return Backbone(
        name=key,
        constructor=fn.__name__,
        module=module_name,
        mode=mode,
        channel_order=order,
        scale=scale,
        offset=offset,
        source_channel=source,
        default_size=default_size,
        min_size=min_size,
    )


def all_backbones() -> list[Backbone]:
    """Every keras.applications backbone, sorted by name."""
    return [get(key) for key in sorted(_constructors())]
