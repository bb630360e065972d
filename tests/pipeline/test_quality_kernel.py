"""The compiled image-quality kernel (pipeline/_quality.c) against its numpy twin (pipeline/quality.py).

A build measures every image through the kernel where it was compiled at install, and through numpy
where no C compiler was found: both must give the same grid sample and the same measures, bit for
bit, on real photos and on the grids that stress the edges of the code (one row, one column, two
rows with no inner point, a flat patch, portrait and landscape, random noise, every colour level).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipecheck.pipeline import quality


@pytest.fixture(scope="module")
def kernel():
    if quality._kernel is None:
        pytest.fail(
            "pipeline/_quality.c was not compiled at install (pip builds it when a C compiler is found): "
            "pipecheck runs on numpy's slower twin; reinstall with gcc or cc on PATH"
        )
    return quality._kernel


LIMITS = np.arange(-1, quality._GRAD_BINS - 1)  # every limit a floor can give (0 .. _EDGE), and -1: all points


def same_counts(grids: list[np.ndarray], length: int) -> bool:
    """The kernel's counts equal numpy's (histograms, colour sums), and so do the edge sums over
    the gradients above every possible limit (the kernel's bins, numpy's gradients)."""
    counts, edges = quality._counts(grids, length)
    twin = np.zeros_like(counts)
    twin_edges = quality._counts_numpy(grids, length, twin)
    if not np.array_equal(counts[:, :515], twin[:, :515]):
        return False
    return all(np.array_equal(edges(np.full(len(grids), k)), twin_edges(np.full(len(grids), k))) for k in LIMITS)


@pytest.fixture
def numpy_only(monkeypatch):
    """Run quality.py's numpy twin: the path taken where the kernel did not build."""

    def run(fn, *args):
        with monkeypatch.context() as m:
            m.setattr(quality, "_kernel", None)
            return fn(*args)

    return run


def real_photos() -> list[np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    china, flower = load_sample_images().images
    photos = [np.asarray(getattr(data, name)())[..., :3] for name in ("chelsea", "coffee", "astronaut", "rocket")]
    photos += [china, flower, np.asarray(data.hubble_deep_field())[..., :3]]
    return [np.ascontiguousarray(p) for p in photos]


def dim_and_washed_out(photos: list[np.ndarray]) -> list[np.ndarray]:
    """Photos whose contrast lowers the edge floor (the gradient bins under ``_EDGE`` decide their
    sharpness): a sixteenth of the contrast, dark or washed out."""
    out = []
    for p in photos[:4]:
        out += [(p // 16).astype(np.uint8), (p // 16 + 200).astype(np.uint8), (p // 6 + 100).astype(np.uint8)]
    return out


def odd_images() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    chelsea = real_photos()[0]
    return [
        np.ascontiguousarray(chelsea.transpose(1, 0, 2)),  # portrait
        np.ascontiguousarray(chelsea[:2]),  # two rows: no inner point
        np.ascontiguousarray(chelsea[:3]),  # one inner row
        np.ascontiguousarray(chelsea[:, :1]),  # one column
        np.ascontiguousarray(chelsea[:1, :1]),  # one pixel
        np.ascontiguousarray(chelsea[::7, ::5]),  # under the grid's 96 points
        np.full((120, 90, 3), 128, np.uint8),  # flat: no edges
        rng.integers(0, 256, (301, 517, 3), dtype=np.uint8),  # noise: every gradient capped
        np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None], (40, 256, 3)).copy(),  # every level, gray
        np.stack([np.full((64, 64), 255), np.zeros((64, 64)), np.full((64, 64), 255)], -1).astype(np.uint8),
    ]


def test_the_kernel_is_built(kernel):
    """The test environments install with a C compiler: a build there must have its kernel."""
    assert kernel.__name__.endswith("_quality")


def test_the_kernel_gives_numpys_samples_counts_and_measures(kernel, numpy_only):
    photos = real_photos()
    images = photos + dim_and_washed_out(photos) + odd_images()
    sizes = [(img.shape[1], img.shape[0]) for img in images]
    samples = [quality.sample(img) for img in images]
    twins = [numpy_only(quality.sample, img) for img in images]
    for got, want in zip(samples, twins):
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
    # The counts themselves, at every edge limit (most limits never decide a rounded measure here).
    for grid in samples:
        assert same_counts([grid], grid.shape[2])
    measured = quality.measure_samples(samples, sizes)
    assert measured == numpy_only(quality.measure_samples, samples, sizes)
    # Every measure takes part: the photos differ in each one.
    assert all(len({row[i] for row in measured[:7]}) > 1 for i in range(len(quality.MEASURES)))


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 140),
    width=st.integers(1, 140),
    levels=st.integers(1, 256),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_kernel_gives_numpys_measures_on_any_image(kernel, height, width, levels, seed):
    """Random images of any size with few or many levels (runs of equal values, gradients at and
    around the edge floors): the same numbers from both paths."""
    rng = np.random.default_rng(seed)
    img = (rng.integers(0, levels, (height, width, 3)) * (255 // max(levels - 1, 1))).astype(np.uint8)
    img = np.ascontiguousarray(np.cumsum(img, axis=1, dtype=np.uint8) if seed % 2 else img)  # smooth ramps too
    sample = quality.sample(img)
    real = quality._kernel
    try:
        quality._kernel = None
        twin = quality.sample(img)
        want = quality.measure_samples([twin], [(width, height)])
    finally:
        quality._kernel = real
    assert np.array_equal(sample, twin)
    assert quality.measure_samples([sample], [(width, height)]) == want
    assert same_counts([sample], sample.shape[2])


def test_a_strided_or_odd_image_takes_numpys_sample(kernel):
    """A view that is not C-contiguous (a crop, a channel-reversed array) is sampled by numpy: the
    kernel reads only contiguous uint8 RGB."""
    photo = real_photos()[1]
    crop = photo[50:250, 40:300]
    assert not crop.flags.c_contiguous
    assert np.array_equal(quality.sample(crop), quality.sample(np.ascontiguousarray(crop)))
    bgr = photo[..., ::-1]
    assert np.array_equal(quality.sample(bgr), quality.sample(np.ascontiguousarray(bgr)))


def test_a_very_long_image_is_sampled(kernel):
    """A 1 x 20 million pixel strip (a build's --min-side 1 lets it through) is sampled like any image."""
    strip = np.zeros((1, 20_000_000, 3), np.uint8)
    strip[0, ::3, 0] = 255
    assert quality.sample(strip).shape == (3, 1, 96)
    real = quality._kernel
    try:
        quality._kernel = None
        twin = quality.sample(strip)
    finally:
        quality._kernel = real
    assert np.array_equal(quality.sample(strip), twin)


def test_grids_that_are_not_contiguous_uint8_are_counted_by_numpy(kernel):
    grid = quality.sample(real_photos()[0])
    wide = grid.astype(np.int16)
    strided = np.ascontiguousarray(np.repeat(grid, 2, axis=2))[:, :, ::2]
    want = quality.measure_samples([grid], [(1, 1)])
    for odd in (wide, strided):
        assert quality.measure_samples([odd], [(1, 1)]) == want


def test_bad_arguments_raise_not_crash(kernel):
    """Buffers too short or of the wrong type, indices outside the image and sizes whose products
    overflow raise ValueError instead of reading or writing outside memory."""
    rgb = np.zeros((10, 10, 3), np.uint8)
    ys = np.arange(10, dtype=np.int64)
    out = np.empty((3, 10, 10), np.uint8)
    with pytest.raises(ValueError, match="out"):
        kernel.gather(rgb, 10, 10, ys, ys, False, np.empty(5, np.uint8))
    with pytest.raises(ValueError, match="rgb"):
        kernel.gather(rgb[:5], 10, 10, ys, ys, False, out)
    with pytest.raises(ValueError, match="outside"):
        kernel.gather(rgb, 10, 10, ys + 1, ys, False, out)
    with pytest.raises(ValueError, match="outside"):
        kernel.gather(rgb, 10, 10, ys, ys - 1, False, out)
    counts = np.zeros(quality._COUNT_FIELDS, np.int64)
    with pytest.raises(ValueError, match="grid"):
        kernel.counts(out[:1], 10, 10, quality._GRAD_BINS - 1, *quality._LUMA_WEIGHTS, counts)
    with pytest.raises(ValueError, match="out"):
        kernel.counts(out, 10, 10, quality._GRAD_BINS - 1, *quality._LUMA_WEIGHTS, counts[:10])
    with pytest.raises(ValueError, match="weights"):
        kernel.counts(out, 10, 10, quality._GRAD_BINS - 1, 65536, 1, 1, counts)
    with pytest.raises(ValueError, match="weights"):
        kernel.counts(out, 10, 10, quality._GRAD_BINS - 1, 2**32 + 5, 1, 1, counts)
    with pytest.raises(BufferError):
        kernel.counts(out, 10, 10, quality._GRAD_BINS - 1, *quality._LUMA_WEIGHTS, counts.tobytes())
    # Wrong item types and alignment: int32 indices, a float64 or int32 out, an unaligned out.
    with pytest.raises(ValueError, match="int64"):
        kernel.gather(rgb, 10, 10, ys.astype(np.int32), ys, False, out)
    with pytest.raises(ValueError, match="int64"):
        kernel.counts(out, 10, 10, quality._GRAD_BINS - 1, *quality._LUMA_WEIGHTS, counts.astype(np.float64))
    with pytest.raises(ValueError, match="int64"):
        kernel.counts(out, 10, 10, quality._GRAD_BINS - 1, *quality._LUMA_WEIGHTS, np.zeros(2 * counts.size, np.int32))
    unaligned = np.zeros(counts.nbytes + 1, np.uint8)[1:].view(np.int64)
    with pytest.raises(ValueError, match="int64"):
        kernel.counts(out, 10, 10, quality._GRAD_BINS - 1, *quality._LUMA_WEIGHTS, unaligned)
    with pytest.raises(ValueError, match="uint8"):
        kernel.counts(out.astype(np.int16), 10, 10, quality._GRAD_BINS - 1, *quality._LUMA_WEIGHTS, counts)
    # Sizes whose byte counts overflow: refused before any buffer is read.
    with pytest.raises(ValueError, match="image size"):
        kernel.gather(rgb, 2**62, 2**62, ys, ys, False, out)


def test_calls_keep_nones_references(kernel):
    """Both functions return None with its reference counted. Built with Python 3.12's headers (the
    stable ABI serves 3.11 too), ``Py_RETURN_NONE`` does not count it, and on 3.11 every call took a
    reference from None until the interpreter aborted."""
    rgb = np.zeros((10, 10, 3), np.uint8)
    ys = np.arange(10, dtype=np.int64)
    grid = np.empty((3, 10, 10), np.uint8)
    counts = np.zeros(quality._COUNT_FIELDS, np.int64)
    result = None
    before = sys.getrefcount(None)
    for _ in range(1000):
        result = kernel.gather(rgb, 10, 10, ys, ys, False, grid)
        result = kernel.counts(grid, 10, 10, quality._GRAD_BINS - 1, *quality._LUMA_WEIGHTS, counts)
    assert result is None
    assert sys.getrefcount(None) >= before - 50  # other code may drop a few; a leak would be 2000
