"""Small real Keras models and data for the training-family tests (no tests of its own).

Images are 16x16x3: Gaussian noise plus a class-dependent bright quadrant (4 classes), so a tiny conv
net learns them in tens of steps. Every broken model has a healthy twin built by the same function.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from pipecheck.validators import registry  # noqa: E402
from pipecheck.validators.training import VerifyTraining  # noqa: E402

L = keras.layers
C = 4
SIZE = 16


def quadrant_data(n: int, seed: int = 0, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Class c brightens quadrant c; one-hot labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    x = rng.normal(0, 1, (n, SIZE, SIZE, 3)).astype("float32")
    h = SIZE // 2
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        x[i, r * h : (r + 1) * h, q * h : (q + 1) * h, :] += 2.0
    return x * scale, keras.utils.to_categorical(y, C).astype("float32")


def brightness_data(n: int, seed: int = 0, sort_by_class: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Class c shifts the whole image's brightness, so BatchNorm batch statistics depend on the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    if sort_by_class:
        y = np.sort(y)
    x = rng.normal(0, 1, (n, SIZE, SIZE, 3)).astype("float32") + (y * 3.0 - 4.5).astype("float32")[:, None, None, None]
    return x, keras.utils.to_categorical(y, C).astype("float32")


def vgg_like(act: str = "relu", out: str | None = "softmax", n_out: int = C, seed: int = 3) -> keras.Model:
    """Seed 003's reduced VGG16 shape, shrunk: conv-conv-pool blocks, a dense layer, a softmax head."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((SIZE, SIZE, 3))
    x = inp
    for i, f in enumerate([8, 8, 16, 16]):
        x = L.Conv2D(f, 3, padding="same", activation=act, name=f"conv_{i}")(x)
        if i % 2:
            x = L.MaxPooling2D(name=f"maxpool_{i}")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(16, activation=act, name="fc_1")(x)
    return keras.Model(inp, L.Dense(n_out, activation=out, name="output")(x))


def bn_net(momentum: float = 0.9, cls=keras.Model) -> keras.Model:
    """Conv-BN-ReLU x2, global pooling, softmax head."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(inp)
    x = L.BatchNormalization(momentum=momentum, name="bn1")(x)
    x = L.ReLU(name="relu1")(x)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(8, 3, padding="same", use_bias=False, name="conv2")(x)
    x = L.BatchNormalization(momentum=momentum, name="bn2")(x)
    x = L.ReLU(name="relu2")(x)
    x = L.GlobalAveragePooling2D()(x)
    return cls(inp, L.Dense(C, activation="softmax", name="head")(x))


def _update_loss_metric(model, loss):
    for m in model.metrics:
        if m.name == "loss":
            m.update_state(loss)
    return {m.name: m.result() for m in model.metrics}


class InferenceModeStep(keras.Model):
    """A custom train_step that calls the model with training=False (BN never updates its statistics)."""

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.losses.categorical_crossentropy(y, self(x, training=False)))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return _update_loss_metric(self, loss)


class DroppedUpdatesStep(keras.Model):
    """Seed 000: training-mode forward pass, but the BatchNorm update ops are never run (the new
    non-trainable values returned by ``stateless_call`` are thrown away)."""

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        tv = self.trainable_variables
        ntv = [v.value for v in self.non_trainable_variables]
        with tf.GradientTape() as tape:
            pred, _ = self.stateless_call([v.value for v in tv], ntv, x, training=True)
            loss = keras.ops.mean(keras.losses.categorical_crossentropy(y, pred))
        grads = tape.gradient(loss, [v.value for v in tv])
        self.optimizer.apply_gradients(zip(grads, tv))
        return _update_loss_metric(self, loss)


def fit_verified(
    model,
    optimizer,
    x,
    y,
    *,
    loss="categorical_crossentropy",
    epochs=1,
    batch_size=16,
    probe=None,
    shuffle=False,
    validation_data=None,
    **cb_kwargs,
) -> VerifyTraining:
    """Compile, attach VerifyTraining with a probe batch (default: the first 32 samples), fit."""
    model.compile(optimizer=optimizer, loss=loss)
    cb = VerifyTraining(probe if probe is not None else (x[:32], y[:32]), **cb_kwargs)
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=shuffle,
        validation_data=validation_data,
        callbacks=[cb],
        verbose=0,
    )
    return cb


def problems(findings) -> set[str]:
    """Check ids of warnings and errors (info findings such as probe_skipped are not problems)."""
    return {f.check for f in findings if f.severity.value in ("warning", "error")}


def the(findings, check_id: str):
    """The finding with this id; asserts it fired with the registry's hint (the fix it names)."""
    hits = [f for f in findings if f.check == check_id]
    assert hits, f"{check_id} did not fire; got {[f.check for f in findings]}"
    f = hits[0]
    assert f.hint and f.hint == registry.get(check_id).hint
    assert f.severity == registry.get(check_id).severity
    return f


PHOTO_CLASSES = ("cat", "coffee", "rocket", "astronaut", "temple", "flower")


def photo_data(n: int, seed: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Real photos: random crops (a third to all of each side, random aspect, half flipped) of the six
    photographs scikit-image and scikit-learn ship, one class each, standardised to about [-1, 1];
    one-hot labels. No download."""
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [data.chelsea(), data.coffee(), data.rocket(), data.astronaut(), *load_sample_images().images]
    photos = [Image.fromarray(np.asarray(p)[..., :3]) for p in photos]
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(photos), n)
    x = np.empty((n, size, size, 3), "float32")
    for i, c in enumerate(y):
        src = photos[int(c)]
        w, h = src.size
        cw, ch = int(rng.integers(w // 3, w + 1)), int(rng.integers(h // 3, h + 1))
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img = src.crop((left, top, left + cw, top + ch)).resize((size, size), Image.BILINEAR)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        x[i] = np.asarray(img, "float32") / 127.5 - 1.0
    return x, keras.utils.to_categorical(y, len(photos)).astype("float32")


def tutorial_cnn(
    blocks: int = 3,
    filters: int = 16,
    n_out: int = len(PHOTO_CLASSES),
    size: int = 32,
    lr: float = 1e-3,
    loss: str = "categorical_crossentropy",
    seed: int = 0,
) -> keras.Model:
    """A small CNN written the way the Keras/TF tutorials write one: Conv2D(3, same) + BatchNorm + ReLU
    + MaxPooling blocks, global average pooling, a softmax head; Adam, cross-entropy; compiled."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    x = inp
    for i in range(blocks):
        x = L.Conv2D(filters * 2**i, 3, padding="same", name=f"conv{i}")(x)
        x = L.BatchNormalization(name=f"bn{i}")(x)
        x = L.ReLU(name=f"relu{i}")(x)
        x = L.MaxPooling2D(name=f"pool{i}")(x)
    x = L.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, L.Dense(n_out, activation="softmax", name="head")(x))
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
    return model
