"""Image quality of a build, judged per class and per split (the ``image_quality`` family).

The build measures every image in its one decode (``pipeline/quality.py``) and stores the numbers
in each record as ``quality/*`` features. This family reads them back without decoding a pixel,
flags every image again with the thresholds given now (``quality.flag_all``, the build's own code,
so ``--quality-threshold`` changes the flags without a rebuild) and judges where the flags sit:

* one **info** finding per issue type (``dark`` ... ``odd_size``): a healthy photo dataset always
  holds a few dark or gray photos, and a whole domain can be flagged by nature (X-rays are gray,
  night skies dark, digits low in information), so a share alone is context, never a failure. What
  hurts training is where the flagged images sit, which the next two checks judge;
* ``split_concentrated`` (warning): within one class, an issue far more frequent in one split than
  in another (val dark, train not: a capture difference that makes val metrics lie). Per (issue,
  class, split pair) a two-sided test of equal proportions (Fisher's exact test where a cell
  expects fewer than 5 images, else the pooled z-test: ``labels.stats.two_proportion_pvalue``);
  per (issue, split pair) the same question over all classes, by the Cochran-Mantel-Haenszel test
  stratified by class (a shift spread thinly over many classes: no class alone is significant, the
  pooled count is; stratified so that classes of unequal split shares cannot fake it). Bonferroni
  over all the tests that could reject (at least one flagged unit and ``split_min_images`` units in
  both splits: with none flagged the conditional test cannot reject, as in Tarone's correction),
  and an effect floor: rates ``split_min_difference`` apart and ``split_min_ratio`` times each
  other, so tiny classes and noise stay silent;
* ``class_concentrated`` (info): most of an issue's images in one class, far beyond its share
  (hypergeometric tail, Bonferroni over issues x classes): natural for a night-sky class, worth
  knowing since a model can learn the issue as the class;
* ``drift`` (warning): median brightness, contrast, colour means, long side and aspect ratio of
  each split against train, by the two-sample Kolmogorov-Smirnov test; flagged when
  ``p < alpha / tests`` and the KS statistic D is at least ``drift_min_effect`` (0.2: the D of a
  normal shift by half a standard deviation, Cohen's medium effect: ``D = 2 Phi(d / 2) - 1``).

In a build with a group field (``--group-field``: sessions, specimens, patients) the split's unit is
the group, and images of one group share a camera and lighting, so they are not independent: counted
one by one, 25 images of one odd session look like 25 pieces of evidence, and healthy group splits
warned in most builds. There both warnings count groups: ``drift`` compares the per-group medians
(n = groups per split), ``split_concentrated`` counts per (group, class) whether at least half its
images have the issue (a dark session, not a session with a dark image; the counts stay integers for
Fisher's test, and a group's own share of flagged images, which its conditions set, weighs once).

Exact and near duplicates are flagged into the summary only (their findings are ``leakage``'s).
A build without measures (``--no-quality``, an older pipecheck) gets one ``not_measured`` info.

Here: the entry point; ``checks.py`` declares the checks and both threshold objects; ``flags.py``
reads and flags the records and writes the summary and the per-issue findings; ``statistics.py``
judges concentration and drift.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from pipecheck.pipeline.quality import QualityThresholds
from pipecheck.validators.findings import Finding
from pipecheck.validators.image_quality.checks import (
    CLASS_CONCENTRATED,
    DRIFT,
    ISSUE_CHECKS,
    MAX_EXAMPLES,
    NOT_MEASURED,
    PER_IMAGE,
    SPLIT_CONCENTRATED,
    ImageQualityThresholds,
    parse_thresholds,
)
from pipecheck.validators.image_quality.flags import issue_finding, read_judged, summarise
from pipecheck.validators.image_quality.statistics import class_concentrated, drift, split_concentrated

__all__ = [
    "CLASS_CONCENTRATED",
    "DRIFT",
    "ISSUE_CHECKS",
    "MAX_EXAMPLES",
    "NOT_MEASURED",
    "PER_IMAGE",
    "SPLIT_CONCENTRATED",
    "ImageQualityThresholds",
    "check_image_quality",
    "build_thresholds",
    "parse_thresholds",
]


def build_thresholds(data_dir: str, given: Mapping[str, float]) -> QualityThresholds:
    """The flag thresholds the build used (its manifest's ``image_quality.thresholds``), ``given`` laid over."""
    from pipecheck.pipeline.manifest import load_manifest

    used = (load_manifest(data_dir).image_quality or {}).get("thresholds") or {}
    names = {f.name for f in dataclasses.fields(QualityThresholds)}
    return QualityThresholds(**{k: v for k, v in {**used, **given}.items() if k in names})


def check_image_quality(
    data_dir: str,
    flags: QualityThresholds | Mapping[str, float] | None = None,
    thresholds: ImageQualityThresholds | None = None,
) -> tuple[list[Finding], dict[str, Any]]:
    """The family's findings for a build and ``report.summary["image_quality"]`` (its format:
    docs/formats.md, "The image_quality summary of validate").

    Args:
        data_dir: The build.
        flags: The flag thresholds: a whole object, or the names to change (``parse_thresholds``) over
            the thresholds the build flagged with (``dataset.json``'s ``image_quality.thresholds``;
            the defaults for a build without them).
        thresholds: The judgement.
    """
    if not isinstance(flags, QualityThresholds):
        flags = build_thresholds(data_dir, flags or {})
    t = thresholds or ImageQualityThresholds()
    j = read_judged(data_dir, flags)
    summary = summarise(data_dir, j, flags, t)
    if not j.measured:
        why = "an empty build" if not j.m.ids else "no record has quality/* features"
        return [NOT_MEASURED.finding(f"image quality not judged: {why}", subject=data_dir)], summary
    findings = [f for issue in PER_IMAGE for f in issue_finding(j, issue, flags)]
    findings += split_concentrated(j, t)
    findings += class_concentrated(j, t)
    drifted, summary["drift"] = drift(j, t)
    return findings + drifted, summary
