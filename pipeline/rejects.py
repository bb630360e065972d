"""Stable reject reason codes (like pandera's failure codes): one line each in ``rejects.jsonl``.

Every input the builder finds ends up either written or rejected with one of these codes, so
``records written + inputs rejected == inputs found`` always holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

REASONS: dict[str, str] = {
    "empty_file": "the image file has zero bytes",
    "undecodable": "not an image Pillow can decode (bad magic bytes or a broken stream)",
    "truncated": "the image stream ends early (full decode failed)",
    "too_many_pixels": "width x height above --max-pixels (decompression-bomb guard)",
    "too_small": "shorter side below --min-side",
    "no_sidecar": "an image with no metadata (no same-stem .json, or not listed in --manifest)",
    "orphan_sidecar": "a sidecar .json with no image of the same stem",
    "bad_sidecar": "the sidecar is not a JSON object",
    "label_missing": "the label field is absent from the metadata",
    "label_empty": "the label field is null, empty, or an empty list",
    "label_invalid": "the label value is not a string/number (or list of them for multi-label)",
    "multiple_labels": "more than one label in a single-label field",
    "duplicate_stem": "two images share one stem, so the sidecar is ambiguous",
    "split_missing": "--split-field is absent or empty for this image",
    "split_invalid": "the --split-field value is not a split name (1-64 letters, digits, _ or -; never a path)",
    "missing_image": "a --manifest row names a file that does not exist",
    "outside_dump": "a --manifest path leads outside the dump (.., absolute, or a symlink without --follow-symlinks)",
    "duplicate_row": "a --manifest row repeats a path already listed",
    "unreadable": "the file could not be read (permissions, removed during the build, I/O error)",
}


@dataclass(frozen=True)
class Reject:
    """One rejected input: ``path`` relative to the dump, the pairing ``stem``, a reason code."""

    path: str
    stem: str
    reason: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown reject reason {self.reason!r}")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)
