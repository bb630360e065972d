"""The one result model of pipecheck: a :class:`Finding` per problem, a :class:`Report` per command.

Like TFDV anomalies, findings are data with a severity; nothing here raises on a data problem.
Plain data only (no rendering), so every floor above can build or render it.
"""

from __future__ import annotations

import enum
import html
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# How a Report draws itself in a notebook. The face (pipecheck/__init__.py) installs the same page as
# ``--html``; this floor only holds the hook, so nothing here imports the face.
_html_renderer: Callable[["Report"], str] | None = None
# Summary entries only the HTML page draws (pictures: thumbnails and histograms of a shuffled sample).
# to_dict leaves them out, so JSON, text and Markdown stay small and reproducible.
HTML_ONLY_SUMMARY = frozenset({"input_visuals"})


def set_html_renderer(renderer: Callable[["Report"], str]) -> None:
    """Install the function :meth:`Report._repr_html_` uses (the face does, on ``import pipecheck``)."""
    global _html_renderer
    _html_renderer = renderer


class ReportFailed(Exception):
    """Raised by :meth:`Report.raise_for_errors`: the report has findings at or above its ``fail_on``."""

    def __init__(self, report: "Report"):
        self.report = report
        failing = report.failing()
        checks = ", ".join(dict.fromkeys(f.check for f in failing))
        super().__init__(
            f"pipecheck {report.command}: {len(failing)} finding(s) at or above {report.fail_on.value}: {checks}"
        )


class Severity(str, enum.Enum):
    """How bad a finding is; ``--fail-on`` compares against this order."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]

    @classmethod
    def parse(cls, value: "Severity | str") -> "Severity":
        if isinstance(value, Severity):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(f"unknown severity {value!r}; use error, warning or info") from None


@dataclass(frozen=True)
class Finding:
    """One problem (or notable fact) found by a check.

    Attributes:
        check: Stable id ``family.code`` (e.g. ``input_range.rescaled_0_1``), documented in the README
            and usable in ``--ignore``.
        severity: error, warning or info.
        message: One human sentence with the key numbers.
        subject: What the finding is about: a class name, a split, a file, a layer.
        evidence: The numbers behind the message, JSON-serialisable.
        hint: How to fix it, naming the concrete API or option.
    """

    check: str
    severity: Severity
    message: str
    subject: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    hint: str = ""

    @property
    def family(self) -> str:
        return self.check.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity.value,
            "message": self.message,
            "subject": self.subject,
            "evidence": _jsonable(self.evidence),
            "hint": self.hint,
        }


@dataclass
class Report:
    """All findings of one command plus a free-form summary (counts, timings, paths).

    ``checks_run`` lists every check id the command ran, those that found nothing too (one JUnit
    testcase each); commands fill it from ``registry.ids(...)``. JSON writes it as
    ``summary["checks_run"]``.
    """

    command: str
    findings: list[Finding] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    fail_on: Severity = Severity.ERROR
    checks_run: list[str] = field(default_factory=list)

    def ran(self, check_ids: Iterable[str]) -> None:
        """Record checks as run (in order, each once)."""
        self.checks_run = list(dict.fromkeys([*self.checks_run, *check_ids]))

    def add(self, findings: Iterable[Finding] | Finding) -> None:
        if isinstance(findings, Finding):
            self.findings.append(findings)
        else:
            self.findings.extend(findings)

    def without(self, ignored: Iterable[str]) -> "Report":
        """A copy without findings whose check id or family is in ``ignored``."""
        ignored = set(ignored)
        kept = [f for f in self.findings if f.check not in ignored and f.family not in ignored]
        # An ignored check did not run as far as the user is concerned.
        ran = [c for c in self.checks_run if c not in ignored and c.split(".", 1)[0] not in ignored]
        return Report(self.command, kept, dict(self.summary), self.fail_on, ran)

    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.severity.rank >= self.fail_on.rank]

    @property
    def status(self) -> str:
        return "fail" if self.failing() else "pass"

    @property
    def exit_code(self) -> int:
        return 1 if self.failing() else 0

    @property
    def ok(self) -> bool:
        """True when nothing is at or above ``fail_on`` (what exit code 0 means on the command line)."""
        return not self.failing()

    @property
    def errors(self) -> list[Finding]:
        """The error-severity findings, worst family first."""
        return [f for f in self.sorted_findings() if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.sorted_findings() if f.severity is Severity.WARNING]

    def to_json(self, indent: int | None = 2) -> str:
        """The report as ``--format json`` writes it."""
        return json.dumps(self.to_dict(), indent=indent)

    def raise_for_errors(self) -> "Report":
        """Raise :class:`ReportFailed` when the report fails (for scripts); returns the report otherwise."""
        if not self.ok:
            raise ReportFailed(self)
        return self

    def _repr_html_(self) -> str:
        if _html_renderer is not None:
            return _html_renderer(self)
        rows = "".join(
            f"<li><b>{html.escape(f.severity.value)}</b> <code>{html.escape(f.check)}</code>: "
            f"{html.escape(f.message)}</li>"
            for f in self.sorted_findings()
        )
        return f"<p>pipecheck {html.escape(self.command)}: {self.status}</p><ul>{rows}</ul>"

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)}
        for f in self.findings:
            out[f.severity.value] += 1
        return out

    def sorted_findings(self) -> list[Finding]:
        """Grouped by family (families with the worst findings first), worst first within a family."""
        worst: dict[str, int] = {}
        for f in self.findings:
            worst[f.family] = max(worst.get(f.family, 0), f.severity.rank)
        return sorted(self.findings, key=lambda f: (-worst[f.family], f.family, -f.severity.rank, f.check))

    def to_dict(self) -> dict[str, Any]:
        from pipecheck.pipeline.version import __version__

        return {
            "pipecheck_version": __version__,
            "command": self.command,
            "status": self.status,
            "fail_on": self.fail_on.value,
            "findings": [f.to_dict() for f in self.sorted_findings()],
            "summary": {
                **_jsonable({k: v for k, v in self.summary.items() if k not in HTML_ONLY_SUMMARY}),
                **({"checks_run": list(self.checks_run)} if self.checks_run else {}),
                "counts": self.counts(),
            },
        }


def _jsonable(value: Any) -> Any:
    """Numpy scalars/arrays and tuples become plain JSON types so every renderer can emit them."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "tolist"):  # numpy array or scalar
        return _jsonable(value.tolist())
    if isinstance(value, float) and value != value:  # NaN is not valid JSON
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return value
