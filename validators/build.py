"""``pipecheck build-tfrecords``: run the build (local worker processes or Apache Beam) and judge it:
what was rejected, repaired and ignored, and whether every input is accounted for
(``written + rejected == found``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Sequence

from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.rejects import REASONS
from pipecheck.pipeline.stats import TFDV_MISSING
from pipecheck.validators import registry
from pipecheck.validators.findings import Report

if TYPE_CHECKING:
    from pipecheck.pipeline.build import BuildResult
    from pipecheck.pipeline.options import BuildOptions
    from pipecheck.pipeline.progress import Progress

ACCOUNTING = registry.define(
    "build.accounting",
    "error",
    "Records written plus inputs rejected do not add up to the inputs found (an input was lost).",
    "report this as a pipecheck bug with the dump layout; do not train on this build",
)
REJECTED = registry.define(
    "build.rejected",
    "warning",
    "Inputs were rejected (counted by reason code; each is listed in rejects.jsonl).",
    "fix or remove the listed files (see rejects.jsonl), or accept the loss",
)
REPAIRED = registry.define(
    "build.repaired",
    "info",
    "Images were repaired and kept (mode converted, rotated, re-encoded).",
    "nothing to do; the repair is recorded per record in image/repairs",
)
IGNORED_FILES = registry.define(
    "build.ignored_files",
    "info",
    "Files that are not inputs (OS litter, other types) were ignored.",
    "nothing to do unless these were meant to be images or sidecars",
)
METADATA_KEYS_CAPPED = registry.define(
    "build.metadata_keys_capped",
    "warning",
    "Sidecars hold more metadata keys than --max-metadata-keys: the most frequent are kept, the rest are in no record.",
    "drop the unused fields from the sidecars, or raise --max-metadata-keys if training reads them",
)
EMPTY_SPLIT = registry.define(
    "build.empty_split",
    "error",
    "A split received no records.",
    "lower --val-fraction only if you mean it; otherwise check the label/split fields and rejects.jsonl",
)


def run_build(
    opts: "BuildOptions", runner: str = "local", beam_options: Sequence[str] = (), progress: "Progress | None" = None
) -> Report:
    """Build ``opts.dump`` into ``opts.out``; the ``build-tfrecords`` report.

    ``runner`` is ``local`` (worker processes; ``progress`` hears of the shards) or ``beam`` (an Apache
    Beam pipeline with ``beam_options``). Raises :class:`InputError` for unusable options.
    """
    opts.label_spec  # noqa: B018 - raises InputError unless exactly one label field is given
    if beam_options and runner != "beam":
        raise InputError("--beam-option needs --runner beam")
    if runner == "beam":
        _require_beam(opts.stats)
        from pipecheck.pipeline.beam import BeamBuildError, build_beam

        try:
            result = build_beam(opts, list(beam_options))
        except BeamBuildError as exc:
            raise InputError(f"{exc} (finished shards are kept: rerun with --resume)") from exc
    else:
        from pipecheck.pipeline.build import build

        result = build(opts, progress=progress)
    return build_report(result)


def _require_beam(stats: bool) -> None:
    """``--runner beam`` needs the ``pipecheck[beam]`` extra, and its statistics branch TFDV."""
    import importlib.util

    from pipecheck.pipeline.stats import TFDV_EXTRA, tfdv_available

    if importlib.util.find_spec("apache_beam") is None:
        raise InputError(
            "--runner beam needs Apache Beam, which is not installed: pip install 'pipecheck[beam]' "
            "(or use the default --runner local)"
        )
    if stats and not tfdv_available():
        raise InputError(
            f"--runner beam computes TFDV statistics, and TFDV is not installed: {TFDV_EXTRA}, or pass --no-stats"
        )


def build_report(result: "BuildResult", max_examples: int = 5) -> Report:
    """Turn a :class:`BuildResult` into a ``build-tfrecords`` report with a summary."""
    report = Report("build-tfrecords")
    acc = result.accounting
    if not acc["balanced"]:
        report.add(
            ACCOUNTING.finding(
                f"{acc['written']} written + {acc['rejected']} rejected != {acc['inputs_found']} found",
                evidence={k: acc[k] for k in ("inputs_found", "written", "rejected")},
            )
        )
    examples: dict[str, list[str]] = defaultdict(list)
    for r in result.rejects:
        examples[r.reason].append(f"{r.path}: {r.detail}" if r.detail else r.path)
    for reason, paths in sorted(examples.items()):
        report.add(
            REJECTED.finding(
                f"{len(paths)} input(s) rejected as {reason}: {REASONS[reason]}",
                subject=reason,
                evidence={"count": len(paths), "examples": paths[:max_examples]},
            )
        )
    for repair, count in sorted(result.repairs.items()):
        report.add(REPAIRED.finding(f"{count} image(s) repaired: {repair}", subject=repair, evidence={"count": count}))
    ignored = _ignored(result)
    if ignored:
        report.add(
            IGNORED_FILES.finding(
                f"{ignored} ignored",
                evidence={"litter": result.litter, "other_by_extension": dict(result.ignored)},
            )
        )
    capped = result.manifest.get("metadata_keys") or {}
    if capped.get("dropped"):
        names = ", ".join(capped["dropped_examples"])
        more = capped["dropped"] - len(capped["dropped_examples"])
        report.add(
            METADATA_KEYS_CAPPED.finding(
                f"{capped['found']} metadata keys found, the {capped['kept']} most frequent kept "
                f"(--max-metadata-keys {capped['max']}), {capped['dropped']} dropped: {names}"
                + (f" and {more} more" if more > 0 else ""),
                subject="metadata",
                evidence={k: capped[k] for k in ("found", "kept", "dropped", "max", "dropped_examples")},
            )
        )
    for split, info in result.manifest["splits"].items():
        if info["examples"] == 0:
            report.add(EMPTY_SPLIT.finding(f"split {split} has no records", subject=split))
    m = result.manifest
    report.summary.update(
        {
            "out": result.out_dir,
            "inputs": f"{acc['inputs_found']} found = {acc['written']} written + {acc['rejected']} rejected"
            + ("" if acc["balanced"] else "  (MISMATCH)"),
            "ignored": f"{result.litter + sum(result.ignored.values())}" + (f": {ignored}" if ignored else ""),
            "splits": {s: v["examples"] for s, v in m["splits"].items()},
            "classes": len(m["classes"]),
            "label_mode": m["label_mode"],
            "shards": sum(len(v["shards"]) for v in m["splits"].values()),
            "build_seconds": m["build_seconds"],
            **({"statistics": TFDV_MISSING} if m.get("statistics") == {} else {}),
            **({"image_quality": _quality_line(m["image_quality"])} if m.get("image_quality") else {}),
        }
    )
    report.ran(registry.ids("build"))
    return report


def _quality_line(summary: dict) -> str:
    """``5 dark, 2 exact_duplicate in image_quality.jsonl`` (or ``none flagged``): where to look;
    ``pipecheck validate --data`` judges them per class and split.
    """
    counts = [f"{n} {issue}" for issue, n in summary.get("issues", {}).items() if n]
    if not counts:
        return f"none flagged ({summary.get('measured', 0)} measured)"
    return f"{summary.get('flagged', 0)} image(s) flagged ({', '.join(counts)}): {summary.get('file')}"


def _ignored(result: "BuildResult") -> str:
    """What the build counted and did not read: OS litter, files in hidden folders (never read, see
    ``dump.HIDDEN``), other files; "" when nothing was ignored.
    """
    from pipecheck.pipeline.dump import HIDDEN

    hidden = result.ignored.get(HIDDEN, 0)
    other = sum(result.ignored.values()) - hidden
    parts = [f"{result.litter} OS litter"] if result.litter else []
    if hidden:
        parts.append(f"{hidden} file(s) in hidden folders")
    if other:
        parts.append(f"{other} other file(s)")
    return ", ".join(parts)
