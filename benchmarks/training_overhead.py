"""Overhead of VerifyTraining on a healthy run: step time with and without the callback.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/training_overhead.py [--steps 400] [--size 32]

Both runs carry the same timing callback (it reads the clock at every batch end, which already turns
off Keras' asynchronous dispatch), so the difference is the cost of VerifyTraining alone. Reported
separately: the first ``max(check_steps)`` steps (where the scheduled probes cluster) and the steady
state after them (the NaN read at every step plus the probe every ``check_every`` steps, amortised).
The two runs alternate ``--repeats`` times and the medians are compared, since other processes share
the CPU. Not a unit test: it prints numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from pipecheck.validators.training import TrainingThresholds, VerifyTraining  # noqa: E402


class StepTimer(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._t = 0.0

    def on_train_batch_begin(self, batch, logs=None) -> None:
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.times.append(time.perf_counter() - self._t)


class TimedVerify(VerifyTraining):
    """VerifyTraining that also adds up the time spent inside its per-batch hooks, per step: a number
    that other processes on the machine disturb far less than a difference of two step times."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hook_times: list[float] = []

    def on_train_batch_begin(self, batch, logs=None) -> None:
        t = time.perf_counter()
        super().on_train_batch_begin(batch, logs)
        self._hook = time.perf_counter() - t

    def on_train_batch_end(self, batch, logs=None) -> None:
        t = time.perf_counter()
        super().on_train_batch_end(batch, logs)
        self.hook_times.append(self._hook + time.perf_counter() - t)


def build(size: int, classes: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((size, size, 3))
    x = inp
    for f in (16, 32, 64):
        x = L.Conv2D(f, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.ReLU()(x)
        x = L.MaxPooling2D()(x)
    x = L.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, L.Dense(classes, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


HOOKS: list[list[float]] = []


def run(with_callback: bool, args, x, y, th: TrainingThresholds) -> list[float]:
    model = build(args.size, args.classes)
    timer = StepTimer()
    callbacks = [timer]
    if with_callback:
        verify = TimedVerify((x[:32], y[:32]), thresholds=th)
        callbacks.append(verify)
    model.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=False, callbacks=callbacks, verbose=0)
    if with_callback:
        HOOKS.append(verify.hook_times)
    return timer.times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    th = TrainingThresholds()
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.normal(0, 1, (n, args.size, args.size, 3)).astype("float32")
    y = rng.integers(0, args.classes, n)
    warm = max(th.check_steps)
    runs: dict[bool, list[list[float]]] = {False: [], True: []}
    run(False, args, x[: 20 * args.batch_size], y[: 20 * args.batch_size], th)  # compile caches, thread pools
    for _ in range(args.repeats):
        for flag in (False, True):
            runs[flag].append(run(flag, args, x, y, th))

    def med(times: list[list[float]], lo: int, hi: int | None) -> float:
        return statistics.median(statistics.mean(t[lo:hi]) for t in times)

    print(
        f"backend={keras.backend.backend()} steps={args.steps} batch={args.batch_size} "
        f"input={args.size}x{args.size}x3 params={build(args.size, args.classes).count_params()} "
        f"check_steps={th.check_steps} check_every={th.check_every}"
    )
    for label, lo, hi in (("first checks (steps 2..%d)" % warm, 1, warm), ("steady state (after)", warm, None)):
        base, cb = med(runs[False], lo, hi), med(runs[True], lo, hi)
        print(
            f"{label:28s} without {base * 1e3:8.2f} ms/step   with {cb * 1e3:8.2f} ms/step   "
            f"ratio {cb / base:.3f}  overhead {100 * (cb / base - 1):+.1f}%"
        )
        inside = med(HOOKS, lo, hi)
        print(
            f"{'':28s} time inside VerifyTraining's hooks {inside * 1e3:.3f} ms/step = "
            f"{100 * inside / base:.1f}% of the step time without it"
        )


if __name__ == "__main__":
    main()
