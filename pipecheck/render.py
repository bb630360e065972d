"""Render a :class:`Report` as text (rich), JSON, JUnit XML or Markdown.

JSON shape: ``{"pipecheck_version", "command", "status", "fail_on", "findings": [...],
"summary": {...}}``. JUnit has one testcase per check that ran (:attr:`Report.checks_run`) or fired,
so CI systems list every check; findings at or above ``--fail-on`` are failures.
"""

from __future__ import annotations

import io
import json
import re
from itertools import groupby
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from pipecheck.validators.findings import Finding, Report

FORMATS = ("text", "json", "junit", "markdown")
_ICON = {"error": "✗", "warning": "!", "info": "i"}
_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """``text`` with the characters XML 1.0 forbids (and terminal control codes) written as escapes.

    Class names, paths and messages come from users' files; a control character in one would make the
    JUnit XML unparseable or move a terminal's cursor. Tabs and newlines stay.
    """
    return _FORBIDDEN.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", str(text)
    )


def groups(report: Report) -> list[list[Finding]]:
    """Findings of one check and severity together, in the report's order (worst family first)."""
    out: dict[tuple[str, str], list[Finding]] = {}
    for f in report.sorted_findings():
        out.setdefault((f.check, f.severity.value), []).append(f)
    return list(out.values())


def _subjects(group: list[Finding], limit: int = 12) -> str:
    names = [f.subject for f in group if f.subject]
    shown = ", ".join(names[:limit]) + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
    return shown


def render(report: Report, fmt: str, *, color: bool = False, width: int = 110, verbose: bool = False) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"
    if fmt == "junit":
        return printable(to_junit(report))
    if fmt == "markdown":
        return to_markdown(report, verbose=verbose)
    if fmt == "text":
        return to_text(report, color=color, width=width, verbose=verbose)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def _evidence_text(evidence: dict[str, Any], limit: int = 6) -> str:
    parts = []
    for key, value in list(evidence.items())[:limit]:
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (list, tuple)) and len(value) > 8:
            value = f"[{', '.join(map(str, value[:8]))}, … {len(value)} items]"
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def _short(value: Any, depth: int = 0) -> str:
    """A summary value for the terminal, bounded: dicts three levels deep and lists of up to 8 plain
    values in full, deeper dicts and longer lists by their size, strings cut at 200 characters (the
    JSON and HTML reports hold them whole).
    """
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        if depth >= 3:
            return f"{{{len(value)} key{'' if len(value) == 1 else 's'}}}"
        return "{" + ", ".join(f"{k}: {_short(v, depth + 1)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        if len(value) > 8 or any(isinstance(v, (dict, list, tuple)) for v in value):
            return f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
        return "[" + ", ".join(_short(v, depth + 1) for v in value) + "]"
    text = str(value)
    return text if len(text) <= 200 else f"{text[:197]}…"


def to_text(report: Report, *, color: bool = False, width: int = 110, verbose: bool = False) -> str:
    """Findings by family; the findings of one check are one entry (subjects listed, hint once)
    unless ``verbose``, which lists each with its evidence.
    """
    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=color, no_color=not color, width=width, highlight=False)
    data = report.to_dict()
    for family, family_groups in groupby(groups(report), key=lambda g: g[0].family):
        family_groups = list(family_groups)
        console.print(Text(f"{family} ({sum(len(g) for g in family_groups)})", style="bold"))
        for group in family_groups:
            for f in group if verbose or len(group) == 1 else group[:1]:
                line = Text(f"  {_ICON[f.severity.value]} {f.severity.value:<7} ", style=_STYLE[f.severity.value])
                line.append(f"{f.check}", style="bold")
                if len(group) > 1 and not verbose:
                    line.append(f" ×{len(group)} [{printable(_subjects(group))}]")
                    line.append(f": e.g. {printable(f.message)}")
                else:
                    if f.subject:
                        line.append(f" [{printable(f.subject)}]")
                    line.append(f": {printable(f.message)}")
                console.print(line)
                if f.evidence and (verbose or len(group) == 1):
                    console.print(Text(f"      evidence: {printable(_evidence_text(f.evidence))}", style="dim"))
                if f.hint:
                    console.print(Text(f"      hint: {printable(f.hint)}", style="green"))
    if not verbose and any(len(g) > 1 for g in groups(report)):
        console.print(Text("(findings of one check are grouped: --verbose lists each with its evidence)", style="dim"))
    # "labels" holds raw per-class counts for the HTML/JSON reports; too bulky for a terminal.
    summary = {k: v for k, v in data["summary"].items() if k not in ("counts", "checks_run", "labels")}
    for key, value in summary.items():
        if isinstance(value, dict) and len(value) > 4:
            console.print(f"{key}:")
            for k, v in value.items():
                console.print(Text(printable(f"  {k}: {_short(v)}")))
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={_short(v)}" for k, v in value.items())
        console.print(Text(printable(f"{key}: {value}")))
    c = data["summary"]["counts"]
    verdict = Text(
        f"{report.command}: {data['status'].upper()} — {c['error']} error(s), {c['warning']} warning(s), "
        f"{c['info']} info (fail-on {report.fail_on.value})",
        style="bold green" if data["status"] == "pass" else "bold red",
    )
    console.print(verdict)
    return buf.getvalue()


def to_markdown(report: Report, *, verbose: bool = False) -> str:
    data = report.to_dict()
    c = data["summary"]["counts"]
    icon = "✅" if data["status"] == "pass" else "❌"
    out = [
        f"## {icon} pipecheck {report.command}: {data['status']}",
        "",
        f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} info — fail-on `{report.fail_on.value}`",
        "",
    ]
    if report.findings:
        out += ["| severity | check | subject | message | hint |", "|---|---|---|---|---|"]
        for group in groups(report):
            f = group[0]
            if verbose or len(group) == 1:
                for g in group:
                    cells = [g.severity.value, f"`{g.check}`", g.subject, g.message, g.hint]
                    out.append("| " + " | ".join(_md_cell(x) for x in cells) + " |")
                continue
            cells = [f.severity.value, f"`{f.check}` ×{len(group)}", _subjects(group), f"e.g. {f.message}", f.hint]
            out.append("| " + " | ".join(_md_cell(x) for x in cells) + " |")
        out.append("")
    summary = {k: v for k, v in data["summary"].items() if k not in ("counts", "checks_run", "labels")}
    if summary:
        out += [
            "<details><summary>summary</summary>",
            "",
            "```json",
            json.dumps(summary, indent=2),
            "```",
            "",
            "</details>",
            "",
        ]
    return printable("\n".join(out))


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_junit(report: Report) -> str:
    by_check: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_check.setdefault(f.check, []).append(f)
    checks = list(dict.fromkeys([*report.checks_run, *sorted(by_check)]))
    failing = {f.check for f in report.failing()}
    cases = []
    for check in checks:
        found = by_check.get(check, [])
        family = check.split(".", 1)[0]
        body = ""
        text = "\n".join(
            f"[{f.severity.value}] {f.subject + ': ' if f.subject else ''}{f.message}"
            + (f"\nhint: {f.hint}" if f.hint else "")
            + (f"\nevidence: {json.dumps(f.to_dict()['evidence'])}" if f.evidence else "")
            for f in found
        )
        if check in failing:
            worst = found[0] if found else None
            msg = worst.message if worst else check
            body = f"<failure message={quoteattr(msg)} type={quoteattr(check)}>{escape(text)}</failure>"
        elif found:
            body = f"<system-out>{escape(text)}</system-out>"
        cases.append(
            f"    <testcase classname={quoteattr('pipecheck.' + family)} name={quoteattr(check)}>{body}</testcase>"
        )
    n_fail = sum(1 for c in checks if c in failing)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites name="pipecheck" tests="{len(checks)}" failures="{n_fail}">\n'
        f'  <testsuite name={quoteattr("pipecheck " + report.command)} tests="{len(checks)}" failures="{n_fail}" errors="0">\n'
        + "\n".join(cases)
        + ("\n" if cases else "")
        + "  </testsuite>\n</testsuites>\n"
    )
