"""TFDV schema checks of a build: a schema inferred from train, every other split validated
against it with drift comparators, and TFDV's anomalies turned into findings.

Tuned against false alarms a plain ``infer_schema`` would raise on healthy data: the group field
(disjoint across splits by design) carries no value domain, categorical domains tolerate 1% of
unseen values (rare values land in only one split by chance), and numeric drift uses TFDV's
Jensen-Shannon comparator only when both splits are large enough for histograms to mean anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipecheck.pipeline.manifest import load_manifest
from pipecheck.validators import registry
from pipecheck.validators.findings import Finding

ANOMALY = registry.define(
    "schema.anomaly",
    "warning",
    "TFDV found an anomaly in a split against the schema inferred from train.",
    "compare the splits with tfdv.visualize_statistics (stats/*.stats.pb); fix the metadata or re-split",
)
DRIFT = registry.define(
    "schema.drift",
    "warning",
    "TFDV's drift comparator (L-infinity / Jensen-Shannon) exceeds its threshold between train and another split.",
    "re-split with `pipecheck split` (iterative stratification) or check how the split was made",
)
STATISTICS_DAMAGED = registry.define(
    "schema.statistics_damaged",
    "error",
    "A statistics file of the build cannot be read (truncated or replaced).",
    "copy the dataset's stats/ folder again, or rebuild the dataset",
)
NO_STATISTICS = registry.define(
    "schema.no_statistics",
    "info",
    "No TFDV statistics to check: the build has none (--no-stats, or built without TFDV) or TFDV is not installed.",
    "rebuild without --no-stats to get TFDV schema checks",
)


@dataclass
class SchemaThresholds:
    """Comparator thresholds (TFDV's own units).

    Attributes:
        label_linf: L-infinity threshold on the label feature's value shares.
        categorical_linf: L-infinity threshold on categorical metadata.
        numeric_js: Jensen-Shannon threshold on numeric metadata histograms.
        min_examples_numeric: Both splits need this many examples before numeric drift is judged.
        min_domain_mass: Share of a split's categorical values that must be in train's domain.
    """

    label_linf: float = 0.1
    categorical_linf: float = 0.2
    numeric_js: float = 0.2
    min_examples_numeric: int = 200
    min_domain_mass: float = 0.99


def _name(feature) -> str:
    return feature.name


# (feature, split, TFDV's short reason, finding) per reason TFDV gives for a feature.
Hit = tuple[str, str, str, Finding]


def check_schema(data_dir: str, thresholds: SchemaThresholds | None = None) -> list[Finding]:
    """Infer a schema from train statistics and validate the other splits against it.

    Without TFDV (the ``pipecheck[tfdv]`` extra) the family reports that once, as the info
    ``schema.no_statistics`` with the install command, and judges nothing.
    """
    from pipecheck.pipeline import stats as stats_mod

    t = thresholds or SchemaThresholds()
    manifest = load_manifest(data_dir)
    if not stats_mod.tfdv_available():
        return [
            NO_STATISTICS.finding(
                "schema checks skipped: TFDV is not installed "
                f"({stats_mod.TFDV_EXTRA} adds them; TFDV supports Python 3.11 with TensorFlow 2.16)",
                subject=data_dir,
                evidence={"tfdv_installed": False},
                hint=f"{stats_mod.TFDV_EXTRA} (a build made without TFDV has no statistics: rebuild after)",
            )
        ]
    tfdv = stats_mod.import_tfdv()
    if manifest.statistics is None or "train" not in manifest.statistics:
        why = "built without TFDV installed" if manifest.statistics == {} else "built with --no-stats"
        return [NO_STATISTICS.finding(f"{data_dir} has no stats/ folder ({why})", subject=data_dir)]
    loaded, damaged = _load_all(stats_mod, data_dir, list(manifest.statistics))
    if damaged:
        return damaged
    train = loaded["train"]
    schema = tfdv.infer_schema(train)
    _tune(schema, manifest.option.get("group_field"), stats_mod.LABEL_COLUMN, t)
    findings: list[Finding] = []
    meta_hits: dict[registry.CheckInfo, list[Hit]] = {}
    for split in manifest.statistics:
        if split == "train":
            continue
        for check, hit in _validate_split(tfdv, schema, train, split, loaded[split], t):
            if hit[0].startswith(META):
                meta_hits.setdefault(check, []).append(hit)
            else:
                findings.append(hit[3])
    n_train = train.datasets[0].num_examples
    for check, hits in sorted(meta_hits.items(), key=lambda item: item[0].id):
        # One metadata feature keeps its own finding(s); several are one finding naming them.
        findings += [h[3] for h in hits] if len({h[0] for h in hits}) == 1 else [_grouped(check, hits, n_train)]
    return findings


def _tune(schema, group: str | None, label_column: str, t: SchemaThresholds) -> None:
    """Tune train's inferred schema in place against the false alarms the module docstring names."""
    for feature in schema.feature:
        name = _name(feature)
        if group and name == f"meta/{group}":
            feature.ClearField("domain")  # groups are disjoint across splits by construction
            continue
        if name == label_column:
            feature.drift_comparator.infinity_norm.threshold = t.label_linf
        elif feature.HasField("domain"):
            feature.drift_comparator.infinity_norm.threshold = t.categorical_linf
            feature.distribution_constraints.min_domain_mass = t.min_domain_mass
        elif feature.type in (2, 3):  # INT, FLOAT
            feature.drift_comparator.jensen_shannon_divergence.threshold = t.numeric_js
        # Presence varies naturally for optional sidecar fields; absence itself is not an anomaly.
        feature.presence.min_fraction = 0.0


def _validate_split(
    tfdv, schema, train, split: str, other, t: SchemaThresholds
) -> list[tuple[registry.CheckInfo, Hit]]:
    """One split's statistics validated against train's schema, drift judged against train's.

    Returns:
        The check (anomaly or drift) and the hit for every reason TFDV gives, features sorted.
    """
    n_train = train.datasets[0].num_examples
    n_other = other.datasets[0].num_examples
    local = type(schema)()
    local.CopyFrom(schema)
    if min(n_train, n_other) < t.min_examples_numeric:
        for feature in local.feature:
            feature.drift_comparator.ClearField("jensen_shannon_divergence")
    anomalies = tfdv.validate_statistics(other, local, previous_statistics=train)
    hits: list[tuple[registry.CheckInfo, Hit]] = []
    for feature_name, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            text = f"{reason.short_description} {reason.description}".lower()
            drift = "distance" in text or "divergence" in text
            check = DRIFT if drift else ANOMALY
            message = f"{split} vs train, {feature_name}: {' '.join(reason.description.split())}"
            one = check.finding(
                message,
                subject=feature_name,
                evidence={
                    "split": split,
                    "tfdv_reason": reason.short_description,
                    "train_examples": n_train,
                    f"{split}_examples": n_other,
                },
            )
            hits.append((check, (feature_name, split, reason.short_description, one)))
    return hits


META = "meta/"
SUBJECTS_LISTED = 20  # metadata features named in a grouped finding's evidence


def _grouped(check: registry.CheckInfo, hits: list[Hit], n_train: int) -> Finding:
    """One finding for every metadata feature a check flagged (one per key buried the report: a
    1,000-field sidecar gave 1,000 warnings), naming the features and counting them per split.
    """
    features = sorted({h[0] for h in hits})
    by_split: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for _feature, split, reason, _finding in hits:
        by_split[split] = by_split.get(split, 0) + 1
        reasons[reason] = reasons.get(reason, 0) + 1
    shown = ", ".join(features[:5]) + (f" and {len(features) - 5} more" if len(features) > 5 else "")
    return check.finding(
        f"{len(features)} metadata features ({shown}); e.g. {hits[0][3].message}",
        subject=f"{len(features)} metadata features",
        evidence={
            "features": features[:SUBJECTS_LISTED],
            "feature_count": len(features),
            "by_split": by_split,
            "tfdv_reasons": reasons,
            "train_examples": n_train,
        },
    )


def _load_all(stats_mod, data_dir: str, splits: list[str]) -> tuple[dict, list[Finding]]:
    """Every split's statistics, or a finding for each file that does not parse as one."""
    loaded, damaged = {}, []
    for split in splits:
        path = stats_mod.stats_path(data_dir, split)
        try:
            stats = stats_mod.load_statistics(data_dir, split)
            if not stats.datasets:
                raise ValueError("no dataset in the file")
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError, OSError, a wrong file: all damage
            damaged.append(
                STATISTICS_DAMAGED.finding(
                    f"{path} cannot be read as TFDV statistics ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split()) or 'truncated'})",
                    subject=str(path),
                    evidence={"split": split},
                )
            )
            continue
        loaded[split] = stats
    return loaded, damaged
