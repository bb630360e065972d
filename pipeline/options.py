"""The options of one build (the CLI flags of ``build-tfrecords``), apart from the build itself.

``build.py`` runs a build and ``staging.py`` guards its output folder; both read these options, so they
live below both (no ``build`` ↔ ``staging`` import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.images import ImageOptions
from pipecheck.pipeline.labels import DEFAULT_MAX_META_KEYS, LabelSpec
from pipecheck.pipeline.quality import QualityThresholds


@dataclass
class BuildOptions:
    """Options of one build (the CLI flags of ``build-tfrecords``)."""

    dump: str
    out: str
    label_field: str | None = None
    multi_label_field: str | None = None
    label_sep: str | None = None
    allow_empty: bool = False
    manifest: str | None = None
    path_column: str = "path"
    recursive: bool = True
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    split_field: str | None = None
    group_field: str | None = None
    seed: int = 0
    max_side: int | None = None
    min_side: int = 32
    max_pixels: int = 89_478_485
    jpeg_quality: int | None = None
    workers: int | None = None
    shard_size_mb: float = 128.0
    overwrite: bool = False
    resume: bool = False
    follow_symlinks: bool = False
    stats: bool = True
    max_metadata_keys: int = DEFAULT_MAX_META_KEYS  # the most frequent metadata keys kept (labels.cap_meta_keys)
    quality: bool = True  # measure image quality in the decode (quality.py); --no-quality
    quality_thresholds: tuple[str, ...] = ()  # NAME=VALUE overrides of quality.QualityThresholds

    @property
    def label_spec(self) -> LabelSpec:
        if bool(self.label_field) == bool(self.multi_label_field):
            raise InputError("give exactly one of --label-field or --multi-label-field")
        if self.multi_label_field:
            return LabelSpec(self.multi_label_field, True, self.label_sep, self.allow_empty)
        return LabelSpec(self.label_field, False)

    @property
    def image_options(self) -> ImageOptions:
        return ImageOptions(self.max_side, self.min_side, self.max_pixels, self.jpeg_quality, self.quality)

    @property
    def thresholds(self) -> QualityThresholds:
        """The image-quality thresholds (``--quality-threshold``); one-line InputError for a bad one."""
        return QualityThresholds.parse(self.quality_thresholds)
