"""Pure label statistics behind the ``label_skew`` and ``class_counts`` checks.

Everything here works on per-split *counts* (images, positives per class, labels-per-image
histogram), never on the images themselves: prevalence, its confidence interval, the split-vs-split
tests and the literature metrics all need only column sums (see
:class:`~pipecheck.validators.labels.label_set.SplitCounts`).

Literature metrics, with the definitions used (k splits S_1..S_k of a dataset D = union of the
splits, q classes, D^i / S_j^i the images carrying class i):

* Label Distribution (Sechidis, Tsoumakas & Vlahavas 2011, "On the stratification of multi-label
  data"): LD = 1/q * sum_i [ 1/k * sum_j | |S_j^i| / (|S_j| - |S_j^i|) - |D^i| / (|D| - |D^i|) | ],
  the mean absolute deviation of each split's positive-to-negative ratio from the whole dataset's.
  0 for a perfectly stratified split.
* Example Distribution (same paper): ED = 1/k * sum_j | |S_j| - c_j |D| |, how far split sizes are
  from the desired fractions c_j. It needs the desired fractions; without them it is undefined.
* FZ / FLZ (same paper): the number of splits that hold at least one class with zero positive
  examples, and the number of (split, class) pairs with zero positive examples. Only classes with at
  least one positive in D count here: a vocabulary class with no examples at all is empty in every
  split by construction and is reported separately (``class_counts.empty_class``).
* L-infinity distance and Jensen-Shannon divergence as TFDV's skew comparator computes them for a
  categorical (multivalent) feature: each class's count over all label occurrences in the split, so
  an image with three labels contributes three occurrences. JS uses log base 2, as TFDV does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

if TYPE_CHECKING:
    from pipecheck.validators.labels.label_set import SplitCounts


def wilson_interval(k: Any, n: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion k/n (vectorised).

    Chosen over the normal (Wald) interval because it stays inside [0, 1] and is honest at 0 and
    near 1, which is exactly where rare and near-constant classes live. ``n == 0`` gives [0, 1].
    """
    from scipy.stats import norm

    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    z = norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / n, 0.0)
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0, 1), 0.0)
        high = np.where(n > 0, np.clip(centre + half, 0, 1), 1.0)
    return low, high


def cohens_h(p_a: Any, p_b: Any) -> np.ndarray:
    """Cohen's h effect size, signed ``b - a``: difference of arcsine-transformed proportions.

    The transform stretches the ends of [0, 1], so 3.9% -> 9.4% (h 0.22) counts as much as
    59% -> 70% (h 0.23), while 85.7% -> 81.5% (h 0.11) stays small. Cohen's rule of thumb:
    0.2 small, 0.5 medium, 0.8 large.
    """
    p_a = np.clip(np.asarray(p_a, dtype=float), 0, 1)
    p_b = np.clip(np.asarray(p_b, dtype=float), 0, 1)
    return 2 * np.arcsin(np.sqrt(p_b)) - 2 * np.arcsin(np.sqrt(p_a))


def two_proportion_pvalue(k_a: Any, n_a: int, k_b: Any, n_b: int, min_expected: float = 5.0) -> np.ndarray:
    """Two-sided p-values for "class prevalence equal in split a and split b" (vectorised).

    The pooled two-proportion z-test where every cell of the 2x2 table expects at least
    ``min_expected`` images (the usual validity rule for the normal approximation), Fisher's exact
    test elsewhere: rare classes and small splits are where the z-test lies.
    """
    from scipy.stats import fisher_exact, norm

    k_a = np.atleast_1d(np.asarray(k_a, dtype=float))
    k_b = np.atleast_1d(np.asarray(k_b, dtype=float))
    n = n_a + n_b
    if n_a == 0 or n_b == 0:
        return np.ones_like(k_a)
    pooled = (k_a + k_b) / n
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (k_a / n_a - k_b / n_b) / se, 0.0)
    pvals = 2 * norm.sf(np.abs(z))
    exp_cells = np.minimum(pooled, 1 - pooled)[:, None] * np.array([n_a, n_b])[None, :]
    small = exp_cells.min(axis=1) < min_expected
    for i in np.flatnonzero(small & (se > 0)):
        table = [[k_a[i], n_a - k_a[i]], [k_b[i], n_b - k_b[i]]]
        pvals[i] = fisher_exact(np.asarray(table, dtype=np.int64))[1]
    return np.clip(pvals, 0.0, 1.0)


def absence_pvalue(k_ref: Any, n_ref: int, k_split: Any, n_split: int) -> np.ndarray:
    """P(a random split leaves ``split`` without the class), one-sided (vectorised).

    The null is the pair's split being random: given the class's ``K = k_ref + k_split`` images
    among the pair's ``n_ref + n_split``, the count in ``split`` is hypergeometric and
    ``P(0) = C(n_ref, K) / C(n_ref + n_split, K)``: Fisher's exact one-sided test at the table's
    extreme cell. It is the observed p-value of an absence and also the smallest p-value the class
    can reach in that direction (what :func:`exact_bonferroni_level` sums). The reference prevalence is
    estimated, not known, so this is larger than the plug-in ``(1 - p)^n``: 20 of 5,000 train
    images and none of 2,000 val images give 1.2e-3 here, 3.3e-4 with the train prevalence taken
    as exact. ``K == 0`` gives 1.
    """
    from scipy.special import gammaln

    k = np.atleast_1d(np.asarray(k_ref, dtype=float)) + np.atleast_1d(np.asarray(k_split, dtype=float))

    def log_comb(n: float) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            out = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
        return np.where(k <= n, out, -np.inf)

    p = np.exp(log_comb(float(n_ref)) - log_comb(float(n_ref + n_split)))
    return np.where(k > 0, np.clip(p, 0.0, 1.0), 1.0)


def exact_bonferroni_level(null_pvalues: Any, alpha: float) -> tuple[float, int]:
    """Per-test level for tests that can reject on one outcome only, whose null probability is known.

    An absence test rejects only when the split holds none of the class, and under a random split
    that happens with probability exactly its :func:`absence_pvalue` ``P_i``. Flagging test ``i``
    when it is observed and ``P_i <= c`` makes the family-wise error rate at most
    ``sum(P_i for P_i <= c)`` (Bonferroni's inequality on the exact rejection probabilities), so
    ``c`` is the largest value that keeps that sum at or below ``alpha``. This refines Tarone's
    (1990) correction for discrete tests, which bounds each such ``P_i`` by ``c``: a frequent class
    that can only ever be absent with probability 1e-30 costs the family nothing, a class with 3
    images (never clearly absent) is left out, and a table of three classes flags a rare one at
    ``p <= alpha - (the others' tiny P_i)``, while a healthy 1000-class split keeps its chance of any
    false flag at or below ``alpha``.

    Returns:
        ``(c, n)``: the level (0 when even the smallest ``P_i`` exceeds ``alpha``) and the number
        of tests at or below it.
    """
    p = np.sort(np.ravel(np.asarray(null_pvalues, dtype=float)))
    if p.size == 0:
        return 0.0, 0
    cum = np.cumsum(p)
    # Only the last of tied values is a valid cut: c flags every test at or below it.
    cut = np.flatnonzero((cum <= alpha) & np.append(p[1:] > p[:-1], True))
    if cut.size == 0:
        return 0.0, 0
    j = int(cut[-1])
    return float(p[j]), j + 1


def label_distribution(splits: Mapping[str, SplitCounts]) -> tuple[float, int]:
    """Sechidis et al.'s Label Distribution (LD) over all splits, with the undefined-term count.

    The positive-to-negative ratio explodes near 100% prevalence, so LD is dominated by
    near-constant classes (seed 002, with classes at 99.97% and 98.8%, scores ~26) and says little
    about rare ones; read it next to the per-class findings, not instead of them.

    A (split, class) term is undefined when the split (or the whole dataset) has no negative for the
    class, i.e. the positive-to-negative ratio divides by zero (a class on 100% of val images). Such
    terms are left out of the mean and their number is returned, so the value stays finite and the
    reader knows what was skipped.

    Returns:
        ``(ld, n_undefined_terms)``; ``ld`` is NaN when no term is defined.
    """
    counts = list(splits.values())
    pos = np.stack([c.positives for c in counts]).astype(float)  # k x q
    n = np.array([c.n_images for c in counts], dtype=float)[:, None]
    total_pos = pos.sum(axis=0)
    total_neg = n.sum() - total_pos
    split_neg = n - pos
    defined = (split_neg > 0) & (total_neg > 0)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.abs(pos / split_neg - (total_pos / total_neg)[None, :])
    dev = np.where(defined, dev, np.nan)
    per_class = np.nanmean(dev, axis=0) if defined.any() else np.array([np.nan])
    ld = float(np.nanmean(per_class)) if np.isfinite(per_class).any() else float("nan")
    return ld, int((~defined).sum())


def example_distribution(sizes: Mapping[str, int], target_fractions: Mapping[str, float]) -> float:
    """Sechidis et al.'s Example Distribution (ED): mean |split size - desired size| in images."""
    total = sum(sizes.values())
    frac_sum = sum(target_fractions.get(s, 0.0) for s in sizes)
    if frac_sum <= 0:
        raise ValueError("target fractions must cover the splits")
    return float(np.mean([abs(n - target_fractions.get(s, 0.0) / frac_sum * total) for s, n in sizes.items()]))


def zero_positive_counts(splits: Mapping[str, SplitCounts]) -> tuple[int, int]:
    """FZ and FLZ: splits with some class at zero positives, and (split, class) pairs at zero.

    Only classes with at least one positive somewhere count (see the module docstring).
    """
    pos = np.stack([c.positives for c in splits.values()])
    present = pos.sum(axis=0) > 0
    zero = (pos == 0) & present[None, :]
    return int(zero.any(axis=1).sum()), int(zero.sum())


def occurrence_distribution(positives: Any) -> np.ndarray:
    """Each class's share of all label occurrences: TFDV's normalisation for a multivalent feature."""
    c = np.asarray(positives, dtype=float)
    total = c.sum()
    return c / total if total > 0 else np.zeros_like(c)


def linf_distance(positives_a: Any, positives_b: Any) -> tuple[float, int]:
    """TFDV's L-infinity skew on label occurrences: ``(distance, index of the class at the max)``."""
    diff = np.abs(occurrence_distribution(positives_a) - occurrence_distribution(positives_b))
    i = int(np.argmax(diff)) if diff.size else 0
    return (float(diff[i]) if diff.size else 0.0), i


def jensen_shannon_divergence(positives_a: Any, positives_b: Any) -> float:
    """Jensen-Shannon divergence (bits) between the label-occurrence distributions, as TFDV reports."""
    p = occurrence_distribution(positives_a)
    q = occurrence_distribution(positives_b)
    m = (p + q) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def compare_cardinality(card_a: Any, card_b: Any, min_expected: float = 5.0) -> dict[str, float]:
    """Compare two labels-per-image histograms.

    Effect size is the total variation distance (half the L1 distance between the two normalised
    histograms: the share of images that would have to change their label count). Significance is a
    chi-square test of homogeneity on the 2 x K table, with high-count bins merged downwards until
    every bin expects ``min_expected`` images in the smaller split, so sparse tails do not inflate it.

    Returns:
        ``{"tvd", "p_value", "mean_a", "mean_b"}``.
    """
    from scipy.stats import chi2_contingency

    a = np.asarray(card_a, dtype=float)
    b = np.asarray(card_b, dtype=float)
    width = max(a.size, b.size)
    a, b = np.pad(a, (0, width - a.size)), np.pad(b, (0, width - b.size))
    na, nb = a.sum(), b.sum()
    k = np.arange(width)
    out = {
        "tvd": 0.0,
        "p_value": 1.0,
        "mean_a": float((k * a).sum() / na) if na else 0.0,
        "mean_b": float((k * b).sum() / nb) if nb else 0.0,
    }
    if na == 0 or nb == 0:
        return out
    out["tvd"] = float(0.5 * np.abs(a / na - b / nb).sum())
    share = min(na, nb) / (na + nb)
    cols: list[list[float]] = []
    acc = np.zeros(2)
    for i in range(width - 1, -1, -1):  # merge from the sparse tail down
        acc += (a[i], b[i])
        if acc.sum() * share >= min_expected:
            cols.append(list(acc))
            acc = np.zeros(2)
    if acc.sum() > 0:
        if cols:
            cols[-1] = list(np.asarray(cols[-1]) + acc)
        else:
            cols.append(list(acc))
    if len(cols) >= 2:
        out["p_value"] = float(chi2_contingency(np.asarray(cols).T, correction=False)[1])
    return out


def balanced_class_weights(positives: Any, n_images: int) -> np.ndarray:
    """Softmax class weights ``n / (K * n_c)`` (scikit-learn's "balanced"); 0 for absent classes.

    K counts only classes that occur, so the weights average to 1 over the images.
    """
    c = np.asarray(positives, dtype=float)
    k = max(int((c > 0).sum()), 1)
    with np.errstate(divide="ignore"):
        return np.where(c > 0, n_images / (k * c), 0.0)


def pos_weights(positives: Any, n_images: int, cap: float | None = None) -> np.ndarray:
    """Sigmoid ``pos_weight`` per class: negatives over positives, so both sides weigh the same.

    A class without positives gets 1.0 (there is nothing to up-weight); ``cap`` bounds the weight of
    very rare classes, whose raw ratio (thousands) makes the loss noisy.
    """
    c = np.asarray(positives, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(c > 0, (n_images - c) / c, 1.0)
    if cap is not None:
        w = np.minimum(w, cap)
    return w


def format_pct(p: float) -> str:
    """A prevalence as a percentage with enough digits to tell it from 0% and 100%."""
    x = float(p) * 100
    if x <= 0 or x >= 100:
        return f"{x:.0f}%"
    m = min(x, 100 - x)
    dec = min(4, max(1, 2 - math.floor(math.log10(m))))
    text = f"{x:.{dec}f}".rstrip("0").rstrip(".")
    return f"{text}%"


def format_p(p: float) -> str:
    """A p-value for a message: ``p < 1e-300`` rather than ``p = 0``."""
    if p <= 0:
        return "p < 1e-300"
    if p < 1e-4:
        return f"p = {p:.1e}"
    return f"p = {p:.3f}"
