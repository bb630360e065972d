"""Leakage between splits: one image (or one group) on both sides of a train/val boundary.

* exact: equal ``image/pixel_hash`` — a hash of decoded pixels, so a PNG re-encode of a training
  image still matches;
* group: equal ``meta/<group field>`` values in two splits (e.g. one specimen photographed twice);
* near: 64-bit difference hashes within a small Hamming distance (re-compressed, resized or
  slightly edited copies), found with LSH banding: split the hash into ``max_distance + 1``
  bands; by pigeonhole two hashes within the distance agree exactly on at least one band, so only
  band collisions are compared instead of every train × val pair.

Reads only non-image features (``read_columns``): no pixel is decoded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from pipecheck.validators import registry
from pipecheck.validators.findings import Finding

EXACT_DUPLICATE = registry.define(
    "leakage.exact_duplicate",
    "error",
    "The same image (decoded pixels) is in two splits.",
    "remove the copies from val/test, or pass --group-field so copies share a split, and rebuild",
)
SHARED_GROUP = registry.define(
    "leakage.shared_group",
    "error",
    "A group value (e.g. specimen) occurs in two splits.",
    "rebuild with --group-field set to that field so each group lands in one split",
)
NEAR_DUPLICATE = registry.define(
    "leakage.near_duplicate",
    "warning",
    "Near-identical images (perceptual hash) are in two splits.",
    "inspect the pairs; if they are copies, drop one or group them with --group-field and rebuild",
)
DUPLICATE_WITHIN_SPLIT = registry.define(
    "leakage.duplicate_within_split",
    "info",
    "The same image occurs more than once inside one split.",
    "deduplicate to avoid over-weighting those images",
)


@dataclass
class LeakageThresholds:
    """Attributes:
    near_max_distance: Hamming distance (of 64 bits) at or below which two images are near
        duplicates; 4 catches re-compression and small resizes without matching distinct photos.
    max_examples: Pairs listed in a finding's evidence.
    """

    near_max_distance: int = 4
    max_examples: int = 10


def _bands(h: int, n_bands: int) -> list[tuple[int, int]]:
    u = h & ((1 << 64) - 1)
    width = 64 // n_bands
    return [(b, (u >> (b * width)) & ((1 << width) - 1)) for b in range(n_bands)]


def near_pairs(hashes: dict[str, list[tuple[str, int]]], max_distance: int) -> list[tuple[str, str, str, str, int]]:
    """Cross-split pairs ``(split_a, id_a, split_b, id_b, distance)`` within ``max_distance``.

    Only members of one band bucket from different splits are compared, and only matches are
    remembered (for de-duplication across bands), so memory stays proportional to the images plus
    the pairs found, not to the pairs compared.
    """
    n_bands = max_distance + 1
    order = {split: k for k, split in enumerate(hashes)}
    buckets: dict[tuple[int, int], dict[str, list[tuple[str, int]]]] = defaultdict(lambda: defaultdict(list))
    for split, rows in hashes.items():
        for ident, h in rows:
            for band in _bands(h, n_bands):
                buckets[band][split].append((ident, h))
    mask = (1 << 64) - 1
    found: dict[tuple[str, str, str, str], int] = {}
    for by_split in buckets.values():
        if len(by_split) < 2:
            continue
        for sa, sb in combinations(sorted(by_split, key=order.__getitem__), 2):
            for ia, ha in by_split[sa]:
                for ib, hb in by_split[sb]:
                    d = ((ha ^ hb) & mask).bit_count()
                    if d <= max_distance:
                        found[(sa, ia, sb, ib)] = d
    return sorted((sa, ia, sb, ib, d) for (sa, ia, sb, ib), d in found.items())


def check_leakage(data_dir: str, thresholds: LeakageThresholds | None = None) -> list[Finding]:
    """Leakage findings for every pair of splits of a build."""
    from pipecheck.pipeline.manifest import load_manifest
    from pipecheck.pipeline.reader import read_columns

    t = thresholds or LeakageThresholds()
    manifest = load_manifest(data_dir)
    group = manifest.option.get("group_field")
    keys = ["image/id", "image/pixel_hash", "image/phash"] + ([f"meta/{group}"] if group else [])
    cols = {split: read_columns(data_dir, split, keys) for split in manifest.splits}
    findings: list[Finding] = []

    by_sha: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for split, c in cols.items():
        for ident, sha in zip(c["image/id"], c["image/pixel_hash"]):
            by_sha[sha].append((split, ident))
    cross = {sha: v for sha, v in by_sha.items() if len({s for s, _ in v}) > 1}
    within = {sha: v for sha, v in by_sha.items() if len(v) > len({s for s, _ in v})}
    if cross:
        examples = [[f"{s}:{i}" for s, i in v] for v in list(cross.values())[: t.max_examples]]
        pairs = defaultdict(int)
        for v in cross.values():
            for s in sorted({s for s, _ in v}):
                pairs[s] += 1
        findings.append(
            EXACT_DUPLICATE.finding(
                f"{len(cross)} image(s) appear in more than one split (identical decoded pixels)",
                subject=", ".join(sorted(pairs)),
                evidence={"images": len(cross), "examples": examples},
            )
        )
    if within:
        findings.append(
            DUPLICATE_WITHIN_SPLIT.finding(
                f"{len(within)} image(s) occur more than once within a split",
                subject=", ".join(sorted({s for v in within.values() for s, _ in v})),
                evidence={"examples": [[f"{s}:{i}" for s, i in v] for v in list(within.values())[: t.max_examples]]},
            )
        )
    if group:
        key = f"meta/{group}"
        where: dict[str, set[str]] = defaultdict(set)
        for split, c in cols.items():
            for value in c[key]:
                if value is not None:
                    where[str(value)].add(split)
        shared = {g: s for g, s in where.items() if len(s) > 1}
        if shared:
            findings.append(
                SHARED_GROUP.finding(
                    f"{len(shared)} value(s) of {group!r} occur in more than one split",
                    subject=group,
                    evidence={
                        "groups": len(shared),
                        "examples": {g: sorted(s) for g, s in list(sorted(shared.items()))[: t.max_examples]},
                    },
                )
            )
    hashes = {
        split: [(i, h) for i, h, sha in zip(c["image/id"], c["image/phash"], c["image/pixel_hash"]) if sha not in cross]
        for split, c in cols.items()
    }
    near = near_pairs(hashes, t.near_max_distance)
    if near:
        findings.append(
            NEAR_DUPLICATE.finding(
                f"{len(near)} near-duplicate pair(s) across splits (perceptual-hash distance <= {t.near_max_distance} of 64 bits)",
                subject=", ".join(sorted({a for a, *_ in near} | {b for _, _, b, _, _ in near})),
                evidence={
                    "pairs": len(near),
                    "examples": [f"{a}:{ia} ~ {b}:{ib} (d={d})" for a, ia, b, ib, d in near[: t.max_examples]],
                },
            )
        )
    return findings
