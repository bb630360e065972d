"""Shared helpers for the real-model corpus: the tiny real-photo builds and the train-check call.

Data: the committed sample dump (``samples/dump``: crops of six real photographs that scikit-image
and scikit-learn ship, 40 per class, see ``samples/README.md``), built once per session with
``build-tfrecords`` (``workers=1``, no TFDV statistics). Cases whose original is a two-class
problem (cats vs dogs, circles) run on a two-class build of the same dump (``cat`` and ``rocket``).

Each case module declares:

- ``SOURCE``: where the original lives (also in its header comment).
- ``FACTORY``: the name of the model factory passed to ``--model module:FACTORY``.
- ``DATA``: ``"six_class"`` or ``"two_class"``.
- ``HEALTHY``: True for a model written the official way; the report must hold no error.
- ``MUST_RAISE``: training.* check ids that must be reported (warning or error).
- ``MUST_NOT_RAISE``: check ids that must not be reported at all (warning or error).
- ``KNOWN_MISS`` (optional): why pipecheck cannot catch this bug; the test then asserts that none
  of ``MUST_RAISE`` is reported, so the entry is removed when a fix lands.
- ``EXTRA_ARGS`` (optional): more ``train-check`` flags the original's setting calls for
  (e.g. ``--run-steps`` = the length of the original run).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
SAMPLE_DUMP = REPO / "samples" / "dump"
TWO_CLASSES = ("cat", "rocket")
IMAGE_SIZE = 32
STEPS = 30
BATCH_SIZE = 16


def build_six_class(root: Path) -> str:
    """The sample dump as ``./dev sample`` builds it (6 classes, grouped by specimen)."""
    from pipecheck.pipeline.build import BuildOptions, build

    out = root / "six_class"
    build(BuildOptions(dump=str(SAMPLE_DUMP), out=str(out), label_field="species", group_field="specimen",
                       workers=1, stats=False))
    return str(out)


def build_two_class(root: Path) -> str:
    """The ``cat`` and ``rocket`` photos of the sample dump (80 images), built alike."""
    from pipecheck.pipeline.build import BuildOptions, build

    dump = root / "two_class_dump"
    dump.mkdir(parents=True)
    for sidecar in sorted(SAMPLE_DUMP.rglob("IMG_*.json")):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except ValueError:
            continue
        image = sidecar.with_suffix(".jpg")
        if meta.get("species") in TWO_CLASSES and image.exists():
            shutil.copyfile(sidecar, dump / sidecar.name)
            shutil.copyfile(image, dump / image.name)
    out = root / "two_class"
    build(BuildOptions(dump=str(dump), out=str(out), label_field="species", group_field="specimen",
                       workers=1, stats=False))
    return str(out)


@dataclass
class Outcome:
    """What one ``pipecheck train-check`` run gave."""

    exit_code: int
    report: dict[str, Any] | None
    output: str
    raised: dict[str, str] = field(default_factory=dict)  # check id -> worst severity reported

    @property
    def errors(self) -> set[str]:
        return {c for c, s in self.raised.items() if s == "error"}

    def describe(self) -> str:
        if self.report is None:
            return f"exit {self.exit_code}, no JSON report:\n{self.output[-3000:]}"
        lines = [f"exit {self.exit_code}, status {self.report.get('status')}"]
        for f in self.report.get("findings", []):
            lines.append(f"  {f['severity']:<7} {f['check']}: {f.get('message', '')[:200]}")
        return "\n".join(lines)


_RANK = {"info": 0, "warning": 1, "error": 2}


def train_check(module: str, factory: str, data_dir: str, extra: tuple[str, ...] = ()) -> Outcome:
    """``pipecheck train-check --model realworld.models.MODULE:FACTORY`` in process (tiny: 32 px, 30 steps)."""
    from click.testing import CliRunner

    from pipecheck.cli import cli

    args = ["train-check", "--data", data_dir, "--model", f"realworld.models.{module}:{factory}",
            "--image-size", str(IMAGE_SIZE), "--steps", str(STEPS), "--batch-size", str(BATCH_SIZE),
            "--device", "cpu", "--format", "json", *extra]
    result = CliRunner().invoke(cli, args)
    output = result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        output += "".join(traceback.format_exception(result.exception))
    try:
        report = json.loads(result.stdout)
    except ValueError:
        report = None
    raised: dict[str, str] = {}
    for f in (report or {}).get("findings", []):
        if f["severity"] in ("warning", "error") and _RANK[f["severity"]] >= _RANK.get(raised.get(f["check"], "info"), 0):
            raised[f["check"]] = f["severity"]
    return Outcome(result.exit_code, report, output, raised)
