"""The labels of a dataset, split by split: :class:`LabelSet` and its counts, :class:`SplitCounts`.

Prevalence, its interval, the split-vs-split tests and the literature metrics all need only column
sums and the labels-per-image histogram, so the checks work on :class:`SplitCounts`: a split of a
million images needs a few kilobytes once counted, and a stream of batches can be counted without
being kept (:meth:`SplitCounts.update`). Matrices, where kept, are scipy.sparse CSR (1M images x
1000 classes with a dozen labels each is ~100 MB, dense would be 1 GB).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from pipecheck.pipeline.split import normalize_split, split_order


@dataclass
class SplitCounts:
    """Everything the label checks need to know about one split.

    Attributes:
        n_images: Number of images in the split.
        positives: Images carrying each class, shape ``(n_classes,)``, int64.
        cardinality: Histogram of labels per image: ``cardinality[k]`` images carry exactly ``k``
            labels (index 0 counts unlabeled images).
    """

    n_images: int
    positives: np.ndarray
    cardinality: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))

    def __post_init__(self) -> None:
        self.n_images = int(self.n_images)
        self.positives = np.asarray(self.positives, dtype=np.int64)
        self.cardinality = np.asarray(self.cardinality, dtype=np.int64)
        if self.positives.ndim != 1:
            raise ValueError("positives must be one count per class")
        if self.cardinality.sum() not in (0, self.n_images):
            raise ValueError(
                f"labels-per-image histogram covers {self.cardinality.sum()} images, split has {self.n_images}"
            )

    @classmethod
    def empty(cls, n_classes: int) -> "SplitCounts":
        """Zero counts, to be filled batch by batch with :meth:`update`."""
        return cls(0, np.zeros(n_classes, dtype=np.int64), np.zeros(1, dtype=np.int64))

    @classmethod
    def from_matrix(cls, multi_hot: Any) -> "SplitCounts":
        """Counts of an ``n_images x n_classes`` multi-hot matrix (numpy or scipy.sparse)."""
        out = cls.empty(multi_hot.shape[1])
        out.update(multi_hot)
        return out

    def update(self, multi_hot: Any) -> None:
        """Add one batch (numpy or scipy.sparse multi-hot, nonzero = positive) to the counts."""
        import scipy.sparse as sp

        if sp.issparse(multi_hot):
            m = sp.csr_matrix(multi_hot, dtype=bool)
            m.sum_duplicates()
            m.eliminate_zeros()
            per_class = np.asarray(m.sum(axis=0), dtype=np.int64).ravel()
            per_image = np.diff(m.indptr)
        else:
            m = np.asarray(multi_hot) != 0
            if m.ndim != 2:
                raise ValueError("a multi-hot batch must be 2-D (images x classes)")
            per_class = m.sum(axis=0, dtype=np.int64)
            per_image = m.sum(axis=1, dtype=np.int64)
        if per_class.shape != self.positives.shape:
            raise ValueError(f"batch has {per_class.size} classes, counts have {self.positives.size}")
        hist = np.bincount(per_image, minlength=1).astype(np.int64)
        if hist.size > self.cardinality.size:
            self.cardinality = np.pad(self.cardinality, (0, hist.size - self.cardinality.size))
        self.cardinality[: hist.size] += hist
        self.positives = self.positives + per_class
        self.n_images += int(m.shape[0])

    @property
    def prevalence(self) -> np.ndarray:
        """Share of images carrying each class (0 for an empty split)."""
        return self.positives / max(self.n_images, 1)

    @property
    def mean_labels(self) -> float:
        """Mean number of labels per image."""
        k = np.arange(self.cardinality.size)
        return float((k * self.cardinality).sum() / max(self.n_images, 1))


@dataclass
class LabelSet:
    """Labels of every split as multi-hot matrices (or per-split counts) plus how to read them.

    Attributes:
        classes: The class vocabulary, column order of every matrix.
        splits: Split name -> ``n_images x n_classes`` multi-hot (scipy.sparse CSR after
            construction; a dense array is converted) or a :class:`SplitCounts` when the labels were
            counted while streaming.
        multi_label: Whether an image may carry several labels (sigmoid) or exactly one (softmax).
        allow_empty: Multi-label only: an image with no label is a valid answer ("nothing there").
        target_fractions: Desired split fractions, if the split was made to a target; needed for
            Sechidis's Example Distribution.
        out_of_vocabulary: Label strings met while reading that are not in ``classes``, with counts.
    """

    classes: list[str]
    splits: dict[str, Any]
    multi_label: bool
    allow_empty: bool = False
    target_fractions: dict[str, float] | None = None
    out_of_vocabulary: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import scipy.sparse as sp

        self.classes = [str(c) for c in self.classes]
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("class names must be unique")
        for name, m in list(self.splits.items()):
            if isinstance(m, SplitCounts):
                width = m.positives.size
            else:
                m = sp.csr_matrix(m, dtype=bool)
                m.sum_duplicates()
                m.eliminate_zeros()
                self.splits[name] = m
                width = m.shape[1]
            if width != len(self.classes):
                raise ValueError(f"split {name!r} has {width} columns for {len(self.classes)} classes")
        self._counts: dict[str, SplitCounts] | None = None

    def counts(self) -> dict[str, SplitCounts]:
        """Per-split counts, in :func:`split_order` (computed once)."""
        if self._counts is None:
            self._counts = {
                s: (
                    self.splits[s]
                    if isinstance(self.splits[s], SplitCounts)
                    else SplitCounts.from_matrix(self.splits[s])
                )
                for s in split_order(self.splits)
            }
        return self._counts

    def train_split(self) -> str:
        """The split named train (or an alias: training, tr), else the largest one."""
        counts = self.counts()
        for s in counts:
            if normalize_split(s) == "train":
                return s
        return max(counts, key=lambda s: counts[s].n_images)

    @classmethod
    def from_label_lists(
        cls,
        classes: Iterable[str] | None,
        splits: Mapping[str, Iterable[Iterable[str]]],
        *,
        multi_label: bool,
        allow_empty: bool = False,
        target_fractions: dict[str, float] | None = None,
    ) -> "LabelSet":
        """Build from ``{split: [[label, ...] per image]}``.

        Args:
            classes: The vocabulary; ``None`` takes the sorted labels seen. Labels outside a given
                vocabulary are appended to it and recorded in ``out_of_vocabulary`` (reported by
                ``class_counts.out_of_vocabulary``) rather than raised, so one bad row does not hide
                every other finding.
            splits: Per split, one iterable of label names per image (repeats are counted once).
            multi_label: Declared task type; never inferred, because inferring it from the data
                would hide single-label data with stray second labels.
            allow_empty: See :class:`LabelSet`.
            target_fractions: See :class:`LabelSet`.
        """
        import scipy.sparse as sp

        rows = {s: [list(map(str, image)) for image in images] for s, images in splits.items()}
        if classes is None:
            vocab = sorted({lab for images in rows.values() for image in images for lab in image})
            declared: set[str] | None = None
        else:
            vocab = [str(c) for c in classes]
            declared = set(vocab)
        index = {c: i for i, c in enumerate(vocab)}
        oov: dict[str, int] = {}
        built: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for s, images in rows.items():
            indptr = np.zeros(len(images) + 1, dtype=np.int64)
            indices: list[int] = []
            for r, image in enumerate(images):
                ids = set()
                for lab in image:
                    if lab not in index:
                        index[lab] = len(vocab)
                        vocab.append(lab)
                    if declared is not None and lab not in declared:
                        oov[lab] = oov.get(lab, 0) + 1
                    ids.add(index[lab])
                indices.extend(sorted(ids))
                indptr[r + 1] = len(indices)
            built[s] = (np.asarray(indices, dtype=np.int64), indptr)
        mats = {
            s: sp.csr_matrix((np.ones(ind.size, dtype=bool), ind, ptr), shape=(ptr.size - 1, len(vocab)))
            for s, (ind, ptr) in built.items()
        }
        return cls(vocab, mats, multi_label, allow_empty, target_fractions, oov)

    @classmethod
    def from_build(cls, data_dir: str, *, allow_empty: bool | None = None) -> "LabelSet":
        """The labels of a folder built by ``build-tfrecords``, read without decoding any image."""
        import scipy.sparse as sp

        from pipecheck.pipeline.manifest import load_manifest
        from pipecheck.pipeline.reader import read_columns

        manifest = load_manifest(data_dir)
        classes = list(manifest.classes)
        mats = {}
        for split in manifest.splits:
            rows = read_columns(data_dir, split, ["label/index"])["label/index"]
            indptr = np.zeros(len(rows) + 1, dtype=np.int64)
            indptr[1:] = np.cumsum([len(r) for r in rows])
            indices = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(indptr[-1]))
            mats[split] = sp.csr_matrix(
                (np.ones(indices.size, dtype=bool), indices, indptr), shape=(len(rows), len(classes))
            )
        options = manifest.option
        val, test = options.get("val_fraction") or 0.0, options.get("test_fraction") or 0.0
        targets = (
            None
            if options.get("split_field")
            else {k: v for k, v in {"train": 1 - val - test, "val": val, "test": test}.items() if v > 0}
        )
        return cls(
            classes,
            mats,
            manifest.multi_label,
            bool(options.get("allow_empty")) if allow_empty is None else allow_empty,
            targets,
        )

    @classmethod
    def from_table(
        cls,
        df: Any,
        label_column: str,
        split_column: str | None = "split",
        sep: str | None = None,
        *,
        classes: Iterable[str] | None = None,
        multi_label: bool | None = None,
        allow_empty: bool = False,
        target_fractions: dict[str, float] | None = None,
    ) -> "LabelSet":
        """Build from a table with one row per image (a pandas DataFrame).

        Args:
            df: The table.
            label_column: Labels of the image: a list/tuple/array of names, a string (one label, or
                several joined by ``sep``), or empty/NaN/None for no label.
            split_column: Column naming each row's split; ``None`` puts every row in "train".
            sep: Delimiter inside string labels (e.g. ``"|"``); ``None`` means a string is one label.
            classes: The vocabulary, if known (needed to find classes without images).
            multi_label: ``None`` reads it from the column's format: list values or a ``sep`` declare
                multi-label, plain strings single-label.
            allow_empty: See :class:`LabelSet`.
            target_fractions: See :class:`LabelSet`.
        """
        values = list(df[label_column])
        listy = any(isinstance(v, (list, tuple, set, np.ndarray)) for v in values)
        parsed = [_parse_labels(v, sep) for v in values]
        from pipecheck.pipeline.split import normalize_split

        # The build's split aliases (valid/validation/dev -> val, ...), so a table and a build agree.
        splits_col = ["train"] * len(values) if split_column is None else [normalize_split(s) for s in df[split_column]]
        by_split: dict[str, list[list[str]]] = {}
        for s, labs in zip(splits_col, parsed):
            by_split.setdefault(s, []).append(labs)
        if multi_label is None:
            multi_label = listy or sep is not None
        return cls.from_label_lists(
            classes,
            by_split,
            multi_label=multi_label,
            allow_empty=allow_empty,
            target_fractions=target_fractions,
        )


def _parse_labels(value: Any, sep: str | None) -> list[str]:
    """Table cell -> label names, with the same rules as the builder (one parser for both)."""
    from pipecheck.pipeline.labels import label_values

    return label_values(value, sep) or []


@dataclass
class LabelThresholds:
    """Thresholds of the label checks; the defaults are what a fine-tuner would expect.

    Attributes:
        ci_level: Confidence level of the Wilson intervals shown for each prevalence.
        alpha: Family-wise significance level for prevalence gaps (Bonferroni over classes and
            split pairs), for absences (exact Bonferroni over classes, directions and split pairs,
            see :func:`~pipecheck.validators.labels.stats.exact_bonferroni_level`: a healthy random
            split of 1000 classes is flagged in at most 1% of draws) and for the labels-per-image
            test.
        min_expected_absent: A class missing from a split (and clearly so at ``alpha``) is an
            error when the lower CI bound of its prevalence in the other split times this split's
            size reaches this many images (P(0 | 5 expected) ~ 0.7%), a warning below that (20 of
            5,000 train images and none of 2,000 val: error; 15: warning, p = 0.006); a class whose
            absence is plausible chance is not named (obj_13: 0.0056% of train predicts 0.3 of
            6,000 val images; 10 of 5,000 train images predict 4 of 2,000 val, p = 0.03).
        min_cohens_h: Smallest |Cohen's h| reported as a prevalence gap (Cohen's "small" effect).
        error_cohens_h: |h| from which a gap is an error (Cohen's "medium" effect).
        min_abs_gap: Smallest absolute prevalence difference reported, so a rare class moving from
            0% to 1% (h 0.2) is not called skewed on effect size alone.
        min_labels_tvd: Smallest total variation distance between the labels-per-image histograms
            of two splits worth a warning (10% of images would have to change their label count).
        min_train: Warn for classes with fewer training images (100: fine-tuning a backbone on less
            tends to overfit).
        min_eval: Warn for classes with fewer images in an evaluation split (10: a per-class recall
            on fewer images moves by 10 points per image).
        imbalance_ratio: Warn when the largest training class has more than this many times the
            images of the smallest non-empty one (Charte et al.'s IRLbl of the rarest class).
        max_listed: Up to this many affected classes get one finding each; beyond it one aggregated
            finding lists the worst ``max_listed`` classes, so 1000-class vocabularies stay readable.
    """

    ci_level: float = 0.95
    alpha: float = 0.01
    min_expected_absent: float = 5.0
    min_cohens_h: float = 0.2
    error_cohens_h: float = 0.5
    min_abs_gap: float = 0.02
    min_labels_tvd: float = 0.1
    min_train: int = 100
    min_eval: int = 10
    imbalance_ratio: float = 10.0
    max_listed: int = 20
