"""The one registry of checks: check id -> family, default severity, what it means, default hint.

Each validator module declares its checks at import time with :func:`define`, which returns the
check's handle (``NO_DATA = define("family.no_data", ...)``); findings are made from the handle
(``NO_DATA.finding(message, ...)``), which fills severity and hint from the registry so the check
table, the ``pipecheck checks`` listing and the findings cannot drift apart. Which checks a command
ran is said one way: :func:`ids` of families or handles, into ``Report.checks_run``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Union

from pipecheck.validators.findings import Finding, Severity

# Modules that declare checks; imported lazily by :func:`all_checks` so listing stays cheap.
CHECK_MODULES = (
    "pipecheck.validators.build",
    "pipecheck.validators.dataset",
    "pipecheck.validators.input_range",
    "pipecheck.validators.generator",
    "pipecheck.validators.image_quality",
    "pipecheck.validators.labels",
    "pipecheck.validators.leakage",
    "pipecheck.validators.schema",
    "pipecheck.validators.training",
)


@dataclass(frozen=True)
class CheckInfo:
    """Static description of one check id."""

    id: str
    severity: Severity
    summary: str
    hint: str = ""

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    def __str__(self) -> str:
        return self.id

    def finding(
        self,
        message: str,
        *,
        subject: str = "",
        evidence: dict[str, Any] | None = None,
        hint: str | None = None,
        severity: Severity | str | None = None,
    ) -> Finding:
        """A :class:`Finding` of this check; severity and hint default to the declared ones."""
        return Finding(
            check=self.id,
            severity=Severity.parse(severity) if severity is not None else self.severity,
            message=message,
            subject=subject,
            evidence=dict(evidence or {}),
            hint=self.hint if hint is None else hint,
        )


# A check named by its handle or by its id string.
CheckRef = Union[CheckInfo, str]

_CHECKS: dict[str, CheckInfo] = {}


# The one summary style (``pipecheck checks``, docs/checks.md): one sentence that states the problem
# found (or, for an info check, what was seen), starting with a capital letter and ending with a
# period, that fits a table cell. What to do about it is the hint's, never the summary's.
SUMMARY_MAX = 250
# First words that would make a summary an instruction (hint text) rather than a statement.
_IMPERATIVES = frozenset(
    {
        "add",
        "apply",
        "call",
        "cast",
        "check",
        "convert",
        "copy",
        "drop",
        "fix",
        "make",
        "pass",
        "rebuild",
        "remove",
        "resize",
        "run",
        "set",
        "use",
    }
)
# Abbreviations whose period does not end a sentence.
_ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "etc.")


def summary_problem(summary: str, hint: str = "") -> str | None:
    """What breaks the summary style in ``summary`` (see ``SUMMARY_MAX``'s comment), or None."""
    if not summary or summary != summary.strip() or "\n" in summary:
        return "must be one line without surrounding spaces"
    if not summary[0].isupper():
        return "must start with a capital letter (reword, e.g. 'The `yield` ...', 'A shard ...')"
    if not summary.endswith(".") or summary.endswith(".."):
        return "must end with one period"
    text = summary[:-1]
    for abbreviation in _ABBREVIATIONS:
        text = text.replace(abbreviation, abbreviation[:-1])
    if any(f"{stop} " in text for stop in ".!?"):
        return "must be one sentence (the why and the fix go in the hint and the docs)"
    if summary.split(maxsplit=1)[0].lower() in _IMPERATIVES:
        return "must state the problem, not the fix (that is the hint)"
    if hint and hint.strip().rstrip(".").lower() in summary.lower():
        return "must not repeat the hint"
    if len(summary) > SUMMARY_MAX:
        return f"must fit a table cell ({len(summary)} characters, at most {SUMMARY_MAX})"
    return None


def define(check_id: str, severity: Severity | str, summary: str, hint: str = "") -> CheckInfo:
    """Declare a check. Re-declaring the same id with the same content is harmless (re-imports).

    Raises:
        ValueError: an id that is not ``family.code``, a summary that breaks the summary style
            (:func:`summary_problem`), or the same id declared with other content.
    """
    if "." not in check_id:
        raise ValueError(f"check id {check_id!r} must be family.code")
    problem = summary_problem(summary, hint)
    if problem:
        raise ValueError(f"check {check_id!r}: summary {summary!r} {problem}")
    info = CheckInfo(check_id, Severity.parse(severity), summary, hint)
    old = _CHECKS.get(check_id)
    if old is not None and old != info:
        raise ValueError(f"check {check_id!r} declared twice with different content")
    _CHECKS[check_id] = info
    return info


def get(check_id: str) -> CheckInfo:
    try:
        return _CHECKS[check_id]
    except KeyError:
        raise KeyError(f"undeclared check id {check_id!r}") from None


def finding(
    check: CheckRef,
    message: str,
    *,
    subject: str = "",
    evidence: dict[str, Any] | None = None,
    hint: str | None = None,
    severity: Severity | str | None = None,
) -> Finding:
    """Make a Finding for a declared check (handle or id); severity and hint default to the registry's."""
    info = get(check.id if isinstance(check, CheckInfo) else check)
    return info.finding(message, subject=subject, evidence=evidence, hint=hint, severity=severity)


def ids(*checks: CheckRef) -> list[str]:
    """The check ids a command ran, for ``Report.checks_run``: each argument is a family name (all of
    its declared checks, by id), a handle, or a declared id; in argument order, without repeats.

    Raises:
        KeyError: an id that is not declared, or a family with no declared check (a typo would
            otherwise make a command claim it ran nothing).
    """
    out: dict[str, None] = {}
    for check in checks:
        if isinstance(check, CheckInfo):
            out[get(check.id).id] = None
        elif "." in check:
            out[get(check).id] = None
        else:
            family = [c.id for c in all_checks() if c.family == check]
            if not family:
                raise KeyError(f"no check of family {check!r} is declared")
            out.update(dict.fromkeys(family))
    return list(out)


def all_checks() -> list[CheckInfo]:
    """Every declared check, importing each validator module. A module listed here that does not
    exist raises: it would otherwise drop its family from ``pipecheck checks``, the docs and JUnit.
    """
    for name in CHECK_MODULES:
        importlib.import_module(name)
    return sorted(_CHECKS.values(), key=lambda c: c.id)
