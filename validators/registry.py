"""The one registry of checks: check id -> family, default severity, what it means, default hint.

Each validator module declares its checks at import time with :func:`define`; findings are made
with :func:`finding`, which fills severity and hint from the registry so the README table, the
``pipecheck checks`` listing and the findings cannot drift apart.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from pipecheck.validators.findings import Finding, Severity

# Modules that declare checks; imported lazily by :func:`all_checks` so listing stays cheap.
CHECK_MODULES = (
    "pipecheck.validators.build",
    "pipecheck.validators.dataset",
    "pipecheck.validators.input_range",
    "pipecheck.validators.generator",
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


_CHECKS: dict[str, CheckInfo] = {}


def define(check_id: str, severity: Severity | str, summary: str, hint: str = "") -> CheckInfo:
    """Declare a check. Re-declaring the same id with the same content is harmless (re-imports)."""
    if "." not in check_id:
        raise ValueError(f"check id {check_id!r} must be family.code")
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
    check_id: str,
    message: str,
    *,
    subject: str = "",
    evidence: dict[str, Any] | None = None,
    hint: str | None = None,
    severity: Severity | str | None = None,
) -> Finding:
    """Make a Finding for a declared check; severity and hint default to the registry's."""
    info = get(check_id)
    return Finding(
        check=check_id,
        severity=Severity.parse(severity) if severity is not None else info.severity,
        message=message,
        subject=subject,
        evidence=dict(evidence or {}),
        hint=info.hint if hint is None else hint,
    )


def all_checks() -> list[CheckInfo]:
    """Every declared check, importing each validator module that exists."""
    for name in CHECK_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return sorted(_CHECKS.values(), key=lambda c: c.id)
