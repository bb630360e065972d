"""Image quality, measured in the build's one decode: the numbers per image and the issues they flag.

Each image the build checks is measured on a grid of 96 points along its long side, sampled
from the pixels the decode already holds (no second pass, no resize; :func:`sample`), a shard
writer's batch of samples at a time (:func:`measure_samples`; ~0.07 ms of CPU an image with the
compiled kernel ``_quality.c``, ~0.2 ms where it did not build and numpy counts):

* ``brightness_p05`` / ``_p50`` / ``_p95``: percentiles of luma (0-255). *dark*: even the brightest
  twentieth of the image is dim; *light*: even the darkest twentieth is bright (washed out).
* ``contrast``: the standard deviation of luma; ``mean_r`` / ``_g`` / ``_b``: the colour means.
* ``entropy``: Shannon entropy of the luma histogram in bits (0-8); *low information* below a few
  bits when the middle 90% of luma (``brightness_p95 - brightness_p05``) is also narrow: a blank or
  flat image. A product shot (an object on a plain white canvas, a quarter of the frame) has under
  3 bits too, one spike and a broad rest, and is not low information.
* ``sharpness``: on the grid's edges (luma gradients above a floor, lowered with the contrast so a
  dim or washed-out photo is judged on the same edges as its original), the mean absolute Laplacian
  over the mean absolute gradient. A step edge scores about 1; blur spreads it over ``s`` grid
  points and the score falls as ``1/s``. It is measured at one scale for every image (the grid), so
  a large sharp photo scores like its thumbnail (the per-pixel Laplacian variance that other tools
  use falls with resolution), and only over edges, so a sharp object on a plain background is not
  blurry. An image with no edges at all scores -1 (nothing to judge: low information says more).
* ``gray_spread``: the 99th percentile over pixels of ``max(R,G,B) - min(R,G,B)``: 0 for a gray
  picture saved as RGB (which a file-mode check misses), tens for any colour photo.
* ``width`` / ``height``: the source's upright size; *odd size* and *odd aspect ratio* are fences
  over the build's own distribution, not fixed numbers: the long side beyond its quartiles by
  ``fence`` IQRs of the logarithm; the elongation (long side over short side, whatever the
  orientation) beyond ``aspect_factor`` times its upper quartile. Elongation, not width over
  height: a dump of portrait and landscape 4:3 photos has log(width/height) quartiles of +-0.29,
  whose 3-IQR fences, [0.13, 7.5], let a 4:1 stretched image through.

Exact duplicates (equal pixel hash) and near duplicates (difference hashes within
``near_max_distance`` bits, :func:`near_pairs`) complete the issue list. Thresholds live in
:class:`QualityThresholds` (documented in ``docs/checks.md``; ``--quality-threshold NAME=VALUE``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from pipecheck.pipeline.errors import InputError

try:  # the measures' inner loops, compiled at install (pipeline/_quality.c); else numpy, same numbers
    from pipecheck.pipeline import _quality as _kernel
except ImportError:  # pragma: no cover - built wherever a C compiler was found at install
    _kernel = None

MEASURES = (
    "brightness_p05",
    "brightness_p50",
    "brightness_p95",
    "contrast",
    "entropy",
    "sharpness",
    "gray_spread",
    "mean_r",
    "mean_g",
    "mean_b",
    "width",
    "height",
)
_COL = {name: i for i, name in enumerate(MEASURES)}
# The per-image issues, in report order; the last two pair images (exact and near duplicates).
ISSUES = (
    "dark",
    "light",
    "low_information",
    "blurry",
    "grayscale",
    "odd_aspect_ratio",
    "odd_size",
    "exact_duplicate",
    "near_duplicate",
)
CONTENT_ISSUES = ISSUES[:5]  # judged on one image's measures alone

GRID = 96  # sample points along the long side
# A point is an edge when |dx| + |dy| (over two grid steps) of luma exceeds _EDGE, or _EDGE_CONTRAST
# times the luma's standard deviation when that is lower (never below _MIN_EDGE), so that a photo
# darkened or washed out to a fifth of its contrast is judged on the same edges as before; with
# fewer than _MIN_EDGES such points (a heavily blurred image), a quarter of that floor.
_EDGE = 24.0
_EDGE_CONTRAST = 1.0
_MIN_EDGE = 2.0
_SOFT_EDGE = 0.25
_MIN_EDGES = 20
# Luma in 16-bit fixed point (0.299, 0.587, 0.114; the weights sum to 65536, so a gray pixel keeps
# its value), truncated: integers give the same numbers on every CPU, where a float matrix product
# differs in its last bit between BLAS kernels.
_LUMA_WEIGHTS = (19595, 38470, 7471)
_MOMENTS = np.stack([np.arange(256), np.arange(256) ** 2], axis=1).astype(np.int64)  # sum and sum of squares
_COUNTS = np.arange(GRID * GRID + 1, dtype=np.float64)
_C_LOG_C = _COUNTS * np.log2(np.maximum(_COUNTS, 1))  # c log2 c for every histogram count a grid can hold


@dataclass(frozen=True)
class QualityThresholds:
    """When a measure makes an issue (see the module's docstring for each measure).

    Attributes:
        dark_p95: *dark* when ``brightness_p95`` is at or below this (luma 0-255).
        light_p05: *light* when ``brightness_p05`` is at or above this.
        low_information_entropy: *low information* when ``entropy`` (bits) is below this ...
        low_information_range: ... and ``brightness_p95 - brightness_p05`` is below this (a plain
            background around a real object spans the whole range).
        blurry_sharpness: *blurry* when ``sharpness`` (0 to ~1.3) is below this; -1 (no edges) never is.
        grayscale_spread: *grayscale* when ``gray_spread`` is at or below this (JPEG chroma noise
            of a gray picture stays within 2-3).
        fence: *odd size* beyond the build's quartiles of log(long side) by this many
            inter-quartile ranges ...
        size_factor: ... and at least this factor away from the median long side (so a build of
            one size flags nothing for a few percent of difference).
        aspect_factor: *odd aspect ratio* when the long side over the short side exceeds the
            build's upper quartile of that ratio by this factor (3:2 photos: beyond 2.6:1).
        min_images: fences need at least this many images.
        near_max_distance: difference-hash bits (of 64) within which two images are near duplicates.
    """

    dark_p95: float = 40.0
    light_p05: float = 200.0
    low_information_entropy: float = 3.5
    low_information_range: float = 32.0
    blurry_sharpness: float = 0.40
    grayscale_spread: float = 3.0
    fence: float = 3.0
    size_factor: float = 2.0
    aspect_factor: float = 1.75
    min_images: int = 20
    near_max_distance: int = 4

    @classmethod
    def parse(cls, pairs: Iterable[str]) -> "QualityThresholds":
        """From ``NAME=VALUE`` strings (``--quality-threshold``); one-line InputError for a bad one."""
        return cls(**parse_pairs(pairs, {f.name: f.type for f in dataclasses.fields(cls)}))


def parse_pairs(pairs: Iterable[str], types: dict[str, str]) -> dict[str, float]:
    """``NAME=VALUE`` strings (``--quality-threshold``) as numbers, for the names in ``types``
    (name -> ``"int"`` or ``"float"``); one-line InputError naming the bad pair and the names.
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in types:
            raise InputError(f"--quality-threshold {pair!r}: expected NAME=VALUE with NAME one of {', '.join(types)}")
        try:
            values[name] = int(text) if types[name] == "int" else float(text)
        except ValueError:
            raise InputError(f"--quality-threshold {pair!r}: {text!r} is not a number") from None
    return values


@functools.lru_cache(maxsize=1024)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample grid of an image: centres of ``GRID`` equal cells along the long side.

    Returns the rows and the columns to take (int64), and for numpy's gather the byte columns of
    each row (every point's R, then every G, then every B: a ``rows x 3 x cols`` result whose
    planes need no transposing copy).
    """
    step = max(height, width) / GRID
    rows, cols = max(1, min(height, round(height / step))), max(1, min(width, round(width / step)))
    ys = (np.arange(1, 2 * rows, 2, dtype=np.int64) * height) // (2 * rows)  # floor((i + 0.5) * height / rows)
    xs = (np.arange(1, 2 * cols, 2, dtype=np.int64) * width) // (2 * cols)
    return ys, xs, (3 * xs + np.arange(3)[:, None]).ravel()


def sample(rgb: np.ndarray) -> np.ndarray:
    """The grid points of an ``H x W x 3`` uint8 image (any decode scale), for :func:`measure_samples`.

    A ``3 x short x long`` uint8 array: R, G and B planes with the image's long side along the rows
    (a portrait grid is transposed; every measure is the same either way), so that the grids of a
    batch share one row length: ``GRID`` points, fewer only for an image under ``GRID`` pixels.
    """
    h, w = rgb.shape[:2]
    ys, xs, columns = _grid(h, w)
    rows, cols = ys.size, xs.size
    if _kernel is not None and rgb.dtype == np.uint8 and rgb.shape[2:] == (3,) and rgb.flags.c_contiguous:
        out = np.empty((3, cols, rows) if rows > cols else (3, rows, cols), np.uint8)
        _kernel.gather(rgb, h, w, ys, xs, rows > cols, out)
        return out
    grid = rgb.reshape(h, w * 3).take(ys, axis=0).take(columns, axis=1).reshape(rows, 3, cols).transpose(1, 0, 2)
    # Contiguous: copied now, while the points are in the cache, the batch's concatenation is a
    # plain copy of blocks (a strided gather of cold views cost it three times as much).
    return np.ascontiguousarray(grid.transpose(0, 2, 1) if rows > cols else grid)


def measure(rgb: np.ndarray, width: int, height: int) -> tuple[float, ...]:
    """The :data:`MEASURES` of one ``H x W x 3`` uint8 image (any decode scale), whose source is
    ``width`` x ``height`` upright.
    """
    return measure_samples([sample(rgb)], [(width, height)])[0]


def measure_samples(samples: Sequence[np.ndarray], sizes: Sequence[tuple[int, int]]) -> list[tuple[float, ...]]:
    """The :data:`MEASURES` of many images from their :func:`sample` grids and upright source sizes
    (``(width, height)``), each the same as :func:`measure` of that image alone.

    Each grid is reduced to integer counts (:func:`_counts`: histograms and sums, by the compiled
    kernel ``_quality.c`` where it built, else by numpy a batch at a time), and every measure is
    finished from the counts of the whole batch at once (:func:`_finish`). Numpy's counting runs a
    batch at a time because, called between two decodes, each of its ~30 calls ran at half speed
    (the decoder had evicted numpy's code and data from the caches). No call goes through BLAS: a
    matrix product there ran OpenBLAS threads that spun on the cores the build's other workers
    decoded on.
    """
    out: list[tuple[float, ...]] = [()] * len(samples)
    by_length: defaultdict[int, list[int]] = defaultdict(list)
    for i, grid in enumerate(samples):
        by_length[grid.shape[2]].append(i)
    for length, members in by_length.items():
        grids = [samples[i] for i in members]
        scores = _finish(*_counts(grids, length), np.array([g.shape[1] * length for g in grids], np.int64))
        for i, row in zip(members, scores):
            out[i] = row + (float(sizes[i][0]), float(sizes[i][1]))
    return out


# Gradients above _EDGE always make an edge: the kernel's counts keep gradients 0.._EDGE apart, the
# rest in one bin.
_GRAD_BINS = math.floor(_EDGE) + 2
_COUNT_FIELDS = 256 + 256 + 3 + 3 * _GRAD_BINS

# Per image, the inner points whose gradient exceeds its limit, for limits given per image: their
# number, gradient sum and |Laplacian| sum (``N x 3``). A point is an edge when it exceeds its
# image's limit (:func:`_sharpness`).
EdgeSums = Callable[[np.ndarray], np.ndarray]


def _counts(samples: list[np.ndarray], length: int) -> tuple[np.ndarray, EdgeSums]:
    """Per grid (rows of ``length`` points), the integer counts every measure is finished from,
    and the sums over the edges it finds for any limit on the gradient.

    The counts, a row of int64 per image: the luma histogram (256 levels), the colour-spread
    histogram (``max(R,G,B) - min(R,G,B)``, 256), the R, G and B sums; the compiled kernel adds,
    for the grid's inner points (not on its border), by gradient ``min(|dx| + |dy|, _GRAD_BINS -
    1)``: how many points, the sum of their gradients, the sum of their absolute Laplacians. The
    edge sums for a limit are then sums over the bins above it. Numpy, which counts a whole batch in
    one sweep per count, sums the edges from the gradients themselves, once per limit asked (a
    count by bin cost it twice the time).
    """
    out = np.zeros((len(samples), _COUNT_FIELDS), np.int64)
    if _kernel is None or not all(g.dtype == np.uint8 and g.flags.c_contiguous for g in samples):
        return out, _counts_numpy(samples, length, out)
    for grid, row in zip(samples, out):
        _kernel.counts(grid, grid.shape[1], length, _GRAD_BINS - 1, *_LUMA_WEIGHTS, row)
    above = out[:, 515:].reshape(-1, 3, _GRAD_BINS)[:, :, ::-1].cumsum(axis=2)[:, :, ::-1]  # gradients >= each bin
    rows = np.arange(len(samples))
    return out, lambda limits: above[rows, :, limits + 1]


def _counts_numpy(samples: list[np.ndarray], length: int, out: np.ndarray) -> EdgeSums:
    """:func:`_counts` of a batch with numpy, into ``out``: one sweep per count over the whole batch."""
    # long: the counts of a batch, each a few whole-array steps
    n = len(samples)
    points = np.array([grid.shape[1] for grid in samples], np.intp) * length  # per image
    starts = np.zeros(n, np.intp)
    np.cumsum(points[:-1], out=starts[1:])
    n_all = int(points.sum())
    planes = np.concatenate(samples, axis=1).reshape(3, n_all)  # one contiguous copy
    r, g, b = planes
    spread = np.maximum(r, g)
    np.maximum(spread, b, out=spread)
    low = np.minimum(r, g)
    np.minimum(low, b, out=low)
    spread -= low
    out[:, 512:515] = np.add.reduceat(planes, starts, axis=1, dtype=np.uint32).T
    wide = planes.astype(np.uint32)
    luma, wide_g, wide_b = wide
    luma *= _LUMA_WEIGHTS[0]
    wide_g *= _LUMA_WEIGHTS[1]
    wide_b *= _LUMA_WEIGHTS[2]
    luma += wide_g
    luma += wide_b
    luma >>= 16
    # One histogram of 256 levels an image: level + 256 x its place in the batch.
    offset = np.repeat(np.arange(0, 256 * n, 256, dtype=np.uint32), points)
    out[:, :256] = np.bincount(luma + offset, minlength=256 * n).reshape(-1, 256)
    out[:, 256:512] = np.bincount(spread + offset, minlength=256 * n).reshape(-1, 256)
    # Gradient and |Laplacian| of the inner points: each point's neighbours are the points 1 and
    # ``length`` away; an image's border points (whose neighbours would belong to the next image,
    # or wrap around a row) are never edges.
    luma = luma.astype(np.int16)
    inner = np.ones((n_all // length, length), bool)
    inner[:, 0] = inner[:, -1] = False
    first = starts // length
    inner[first] = inner[first + points // length - 1] = False
    inner = inner.ravel()
    both = np.zeros((2, n_all), np.int16)
    if n_all > 2 * length:
        interior = slice(length, n_all - length)
        grad, lap = both[:, interior]
        left, right = luma[length - 1 : n_all - length - 1], luma[length + 1 : n_all - length + 1]
        up, down = luma[: n_all - 2 * length], luma[2 * length :]
        np.subtract(right, left, out=grad)
        np.abs(grad, out=grad)
        dy = down - up
        np.abs(dy, out=dy)
        grad += dy
        np.add(left, right, out=lap)
        lap += up
        lap += down
        lap -= luma[interior] * 4
        np.abs(lap, out=lap)

    def edge_sums(limits: np.ndarray) -> np.ndarray:
        edges = both[0] > np.repeat(limits.astype(np.int16), points)
        edges &= inner
        found = np.add.reduceat(edges, starts, dtype=np.int32)
        sums = np.add.reduceat(both * edges, starts, axis=1, dtype=np.int32)
        return np.stack([found, sums[0], sums[1]], axis=1).astype(np.int64)

    return edge_sums


def _finish(counts: np.ndarray, edge_sums: EdgeSums, points: np.ndarray) -> list[tuple[float, ...]]:
    """All measures but the size, per image, from its :func:`_counts` row, the edge sums and its
    number of points.
    """
    hist, spread_hist, colour = counts[:, :256], counts[:, 256:512], counts[:, 512:515]
    levels, gray = _levels(hist, points, _QUANTILES), _levels(spread_hist, points, _QUANTILES[3:])[:, 0]
    moments = hist @ _MOMENTS  # integers: no BLAS
    c_log_c = _C_LOG_C[hist].sum(axis=1)
    mean = moments[:, 0] / points
    contrasts = np.sqrt(np.maximum(0.0, moments[:, 1] / points - mean * mean))
    sharpness = _sharpness(edge_sums, contrasts)
    return [
        (
            float(p05),
            float(p50),
            float(p95),
            round(contrast, 3),
            round(math.log2(n) - c_log_c_i / n, 4) + 0.0,  # entropy; + 0.0: no -0.0 for one level
            round(sharp, 4),
            float(spread),
            round(r / n, 3),
            round(g / n, 3),
            round(b / n, 3),
        )
        for n, (p05, p50, p95, _), contrast, c_log_c_i, sharp, spread, (r, g, b) in zip(
            points.tolist(),
            levels.tolist(),
            contrasts.tolist(),
            c_log_c.tolist(),
            sharpness.tolist(),
            gray.tolist(),
            colour.tolist(),
        )
    ]


_QUANTILES = np.array([0.05, 0.5, 0.95, 0.99])  # brightness p05, p50, p95; gray_spread's p99


def _levels(hist: np.ndarray, counts: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Per image (a row of 256-level ``hist`` over ``counts`` points), the first level whose
    cumulative count reaches ``ceil(q * count)`` for each quantile ``q``.

    One search for the whole batch: each row's cumulative counts are lifted by ``row << 20`` (more
    than any count) so that the rows, laid end to end, stay sorted.
    """
    lift = np.arange(len(hist), dtype=np.int64)[:, None] << 20
    ranks = np.ceil(counts[:, None] * quantiles).astype(np.int64) + lift
    found = (hist.cumsum(axis=1) + lift).ravel().searchsorted(ranks.ravel()).reshape(ranks.shape)
    return found - (np.arange(len(hist))[:, None] * 256)


def _sharpness(edge_sums: EdgeSums, contrasts: np.ndarray) -> np.ndarray:
    """Mean |Laplacian| over mean |gradient| on the edges of each image; -1 with no edges.

    A point is an edge when its gradient exceeds the image's floor (``_EDGE``, lowered with the
    contrast); with fewer than ``_MIN_EDGES`` such points, a quarter of that floor.
    """
    floors = np.minimum(_EDGE, np.maximum(_MIN_EDGE, _EDGE_CONTRAST * contrasts))
    out = np.full(len(contrasts), -1.0)
    todo = np.ones(len(contrasts), bool)
    for soft in (1.0, _SOFT_EDGE):
        # Integer gradients: ``> floor(f)`` takes the same points as ``> f``.
        found, grads, laps = edge_sums(np.floor(floors * soft).astype(np.intp)).T
        done = todo & (found >= _MIN_EDGES)
        out[done] = laps[done] / grads[done]
        todo &= ~done
        if not todo.any():
            break
    return out


def content_issues(scores: Sequence[float], t: QualityThresholds) -> list[str]:
    """The issues one image's measures show on their own (not size, aspect or duplicates)."""
    s = scores
    out = []
    if s[_COL["brightness_p95"]] <= t.dark_p95:
        out.append("dark")
    if s[_COL["brightness_p05"]] >= t.light_p05:
        out.append("light")
    if (
        s[_COL["entropy"]] < t.low_information_entropy
        and s[_COL["brightness_p95"]] - s[_COL["brightness_p05"]] < t.low_information_range
    ):
        out.append("low_information")
    if 0 <= s[_COL["sharpness"]] < t.blurry_sharpness:
        out.append("blurry")
    if s[_COL["gray_spread"]] <= t.grayscale_spread:
        out.append("grayscale")
    return out


def column(name: str) -> int:
    """The index of measure ``name`` in a scores row."""
    return _COL[name]


def fences(widths: np.ndarray, heights: np.ndarray, t: QualityThresholds) -> dict[str, list[float]] | None:
    """``{"long_side": [lo, hi], "aspect_ratio": [lo, hi]}``: outside is odd; None below ``min_images``.

    The long side: Tukey's fences on its logarithm (sizes are multiplicative), widened to at least
    ``size_factor`` around the median. The aspect ratio (width over height): ``[1/e, e]`` with ``e``
    the upper quartile of the elongation (long over short side) times ``aspect_factor``, so a portrait
    among landscape photos is not odd, and a mix of orientations does not widen the band.
    """
    if len(widths) < max(t.min_images, 4):
        return None
    logs = np.log(np.maximum(np.maximum(widths, heights), 1e-9))
    q1, med, q3 = np.percentile(logs, [25, 50, 75])
    iqr = q3 - q1
    lo = min(q1 - t.fence * iqr, med - math.log(t.size_factor))
    hi = max(q3 + t.fence * iqr, med + math.log(t.size_factor))
    elongation = np.maximum(widths, heights) / np.maximum(np.minimum(widths, heights), 1)
    e = float(np.percentile(elongation, 75)) * t.aspect_factor
    return {
        "long_side": [round(math.exp(lo), 4), round(math.exp(hi), 4)],
        "aspect_ratio": [round(1 / e, 4), round(e, 4)],
    }


def shape_issues(width: float, height: float, bounds: dict[str, list[float]] | None) -> list[str]:
    """``odd_aspect_ratio`` / ``odd_size`` for one image against :func:`fences`."""
    if not bounds:
        return []
    out = []
    aspect = width / max(height, 1)
    lo, hi = bounds["aspect_ratio"]
    if not lo <= aspect <= hi:
        out.append("odd_aspect_ratio")
    lo, hi = bounds["long_side"]
    if not lo <= max(width, height) <= hi:
        out.append("odd_size")
    return out


_M1, _M2, _M4, _H01 = (
    np.uint64(v) for v in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x0101010101010101)
)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (``np.bitwise_count`` where numpy has it, else the SWAR sum)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


def near_groups(hashes: Sequence[int], max_distance: int) -> list[int]:
    """For each difference hash, the index of the first hash of its group of near duplicates
    (itself when it has none): groups join hashes within ``max_distance`` bits, transitively.

    Equal hashes join first (a thousand blank images with one hash cost nothing more); the distinct
    values are compared by LSH banding: cut into ``max_distance + 1`` bands, two hashes within the
    distance agree on at least one band (pigeonhole), so only values sharing a band's bucket are
    compared (with numpy), and the pairs found are joined by connected components (:func:`_components`).
    """
    if not hashes:
        return []
    values, inverse = np.unique(np.asarray(hashes, np.int64).view(np.uint64), return_inverse=True)
    n_bands = max_distance + 1
    width = 64 // n_bands
    mask = np.uint64((1 << width) - 1)
    rows, cols = [], []
    for band in range(n_bands):
        keys = (values >> np.uint64(band * width)) & mask
        order = np.argsort(keys, kind="stable")
        sorted_keys, sorted_values = keys[order], values[order]
        # Compare each value with the one `offset` places on in band order while both share the
        # bucket: the candidates only shrink as the offset grows (sorted keys), so the work is the
        # pairs within buckets, done as a few whole-array steps instead of a loop over buckets.
        at = np.arange(len(order) - 1)
        offset = 1
        while at.size:
            at = at[at + offset < len(order)]
            at = at[sorted_keys[at] == sorted_keys[at + offset]]
            close = at[_popcount(sorted_values[at] ^ sorted_values[at + offset]) <= max_distance]
            rows.append(order[close])
            cols.append(order[close + offset])
            offset += 1
    n = len(values)
    label = _components(n, np.concatenate(rows), np.concatenate(cols)) if rows else np.arange(n)
    inverse = inverse.ravel()
    # The first index (in input order) holding each component: its representative.
    first = np.full(label.max() + 1, len(hashes), np.int64)
    np.minimum.at(first, label[inverse], np.arange(len(hashes)))
    return first[label[inverse]].tolist()


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each of ``n`` nodes, the smallest node of its connected component (edges ``a[i]-b[i]``).

    Hook each edge's larger root under its smaller one, flatten the trees by pointer jumping, and
    repeat until every edge joins equal labels: a few whole-array steps, where SciPy's
    ``connected_components`` cost a ~0.15 s import in every build.
    """
    label = np.arange(n)
    while True:
        la, lb = label[a], label[b]
        if np.array_equal(la, lb):
            return label
        low = np.minimum(la, lb)
        np.minimum.at(label, la, low)
        np.minimum.at(label, lb, low)
        while True:  # pointer jumping: every node to its root
            up = label[label]
            if np.array_equal(up, label):
                break
            label = up


QUALITY_NAME = "image_quality.jsonl"  # one line per flagged image, in the build folder


@dataclass
class Measured:
    """The build's records as the quality summary needs them, one entry per record."""

    ids: list[str]
    splits: list[str]
    labels: list[list[str]]
    scores: list[Sequence[float]]  # ``MEASURES`` per record; empty when not measured
    pixel_hashes: list[str]
    phashes: list[int]

    @classmethod
    def from_shards(cls, results: Iterable[Any], labels_by_id: dict[str, list[str]]) -> "Measured":
        """From the shard writers' results (``shards.ShardResult``) and each record's label names."""
        m = cls([], [], [], [], [], [])
        for r in results:
            n = len(r.written)
            m.ids += r.written
            m.splits += [r.split] * n
            m.labels += [labels_by_id.get(i, []) for i in r.written]
            m.scores += r.quality if len(r.quality) == n else [[]] * n
            m.pixel_hashes += r.pixel_hashes if len(r.pixel_hashes) == n else [""] * n
            m.phashes += r.phashes if len(r.phashes) == n else [0] * n
        return m


def flag_all(m: Measured, t: QualityThresholds) -> tuple[list[list[str]], dict[int, list[int]], Any]:
    """Each record's issues, the other members of its duplicate group (exact first, else near), and
    the size/aspect fences used.
    """
    n = len(m.ids)
    measured = [i for i in range(n) if len(m.scores[i]) == len(MEASURES)]
    issues: list[list[str]] = [[] for _ in range(n)]
    if measured:
        arr = np.asarray([m.scores[i] for i in measured], np.float64)
        bounds = fences(arr[:, _COL["width"]], arr[:, _COL["height"]], t)
        for i, row in zip(measured, arr.tolist()):  # Python floats: numpy scalars compare 5x slower
            issues[i] = content_issues(row, t) + shape_issues(row[_COL["width"]], row[_COL["height"]], bounds)
    else:
        bounds = None
    partners: dict[int, list[int]] = {}
    exact: dict[str, list[int]] = defaultdict(list)
    for i, h in enumerate(m.pixel_hashes):
        if h:
            exact[h].append(i)
    for members in exact.values():
        if len(members) > 1:
            for i in members:
                issues[i].append("exact_duplicate")
                partners[i] = [j for j in members if j != i]
    hashed = [i for i in range(n) if m.pixel_hashes[i]]
    groups: dict[int, list[int]] = defaultdict(list)
    for i, g in zip(hashed, near_groups([m.phashes[i] for i in hashed], t.near_max_distance)):
        groups[hashed[g]].append(i)
    for members in groups.values():
        if len({m.pixel_hashes[i] for i in members}) > 1:  # not only copies of one image
            for i in members:
                others = [j for j in members if m.pixel_hashes[j] != m.pixel_hashes[i]]
                issues[i].append("near_duplicate")
                partners.setdefault(i, others)
    return issues, partners, bounds


def summarise(m: Measured, t: QualityThresholds, *, max_partners: int = 5) -> tuple[dict[str, Any], bytes]:
    """The manifest's ``image_quality`` summary and the bytes of ``image_quality.jsonl``.

    A line per flagged image: ``id``, ``split``, ``labels``, ``issues``, ``scores`` (the measures by
    name) and, for a duplicate, ``duplicates`` (up to ``max_partners`` other ids, ``split:id``).
    """
    issues, partners, bounds = flag_all(m, t)
    by_split: dict[str, dict[str, int]] = {}
    totals = dict.fromkeys(ISSUES, 0)
    lines = []
    for i in sorted(range(len(m.ids)), key=lambda i: (m.splits[i], m.ids[i])):
        split = by_split.setdefault(m.splits[i], {"images": 0, **dict.fromkeys(ISSUES, 0)})
        split["images"] += 1
        if not issues[i]:
            continue
        for issue in issues[i]:
            totals[issue] += 1
            split[issue] += 1
        line: dict[str, Any] = {"id": m.ids[i], "split": m.splits[i], "labels": m.labels[i], "issues": issues[i]}
        if len(m.scores[i]) == len(MEASURES):
            line["scores"] = dict(zip(MEASURES, map(float, m.scores[i])))
        if i in partners:
            line["duplicates"] = [f"{m.splits[j]}:{m.ids[j]}" for j in partners[i][:max_partners]]
        lines.append(json.dumps(line, ensure_ascii=True) + "\n")
    summary = {
        "file": QUALITY_NAME,
        "measured": sum(1 for s in m.scores if len(s) == len(MEASURES)),
        "flagged": len(lines),
        "issues": totals,
        "by_split": by_split,
        "fences": bounds,
        "thresholds": dataclasses.asdict(t),
    }
    return summary, "".join(lines).encode()
