"""A self-contained HTML page of a report: per-class prevalence bars per split with flagged classes
marked, a class-count histogram, labels-per-image histograms, the flagged images themselves
(``html_quality.py``), the inputs a backbone receives (``html_inputs.py``), and the findings list.

Inline CSS and SVG only (no scripts, no network), so the file opens anywhere and can be attached
to a CI run. Label charts are drawn from ``report.summary["labels"]`` (set by ``validate``).
"""

from __future__ import annotations

from html import escape
from typing import Any

from pipecheck.html_quality import CSS as _QUALITY_CSS
from pipecheck.html_quality import render_image_quality
from pipecheck.validators.findings import Report

_COLORS = ["#3b6fb6", "#e07b39", "#4a9a5b", "#a05195", "#7a7a7a"]
_MAX_CLASS_ROWS = 150
# Every rule is scoped under .pipecheck-report: in Jupyter the report is a fragment of the notebook's
# page (``Report._repr_html_``), and unscoped body/h1/table rules would restyle the whole notebook.
_CSS = (
    """
.pipecheck-report{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222}
.pipecheck-report h1{font-size:22px} .pipecheck-report h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.pipecheck-report .pass{color:#1d7a35} .pipecheck-report .fail{color:#b3261e} .pipecheck-report table{border-collapse:collapse;width:100%}
.pipecheck-report td,.pipecheck-report th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
.pipecheck-report .sev-error{color:#b3261e;font-weight:600} .pipecheck-report .sev-warning{color:#a86400;font-weight:600}
.pipecheck-report .sev-info{color:#35659b} .pipecheck-report .legend span{display:inline-block;margin-right:14px}
.pipecheck-report .legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.pipecheck-report .flag{color:#b3261e;font-weight:600}
.pipecheck-report code{background:#f4f4f4;padding:0 3px;border-radius:3px} .pipecheck-report .muted{color:#777}
"""
    + _QUALITY_CSS
)


def _bars(labels: dict[str, Any], flagged: set[str]) -> str:
    classes = labels["classes"]
    splits = list(labels["splits"])
    prev = {s: [p / max(labels["splits"][s]["images"], 1) for p in labels["splits"][s]["positives"]] for s in splits}
    order = sorted(range(len(classes)), key=lambda i: (classes[i] not in flagged, -prev[splits[0]][i] if splits else 0))
    shown = order[:_MAX_CLASS_ROWS]
    row_h, bar_h, label_w, width = 8 + 9 * len(splits), 8, 170, 900
    plot_w = width - label_w - 70
    height = row_h * len(shown) + 24
    out = [
        f'<svg role="img" aria-label="per-class prevalence per split" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + tick * plot_w
        out.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 18}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{height - 4}" font-size="11" text-anchor="middle" fill="#777">{tick:.0%}</text>'
        )
    for row, i in enumerate(shown):
        y = row * row_h + 4
        name = classes[i]
        mark = name in flagged
        out.append(
            f'<text x="{label_w - 6}" y="{y + row_h / 2 + 3:.1f}" font-size="12" text-anchor="end" '
            f'fill="{"#b3261e" if mark else "#222"}" font-weight="{"600" if mark else "400"}">{"⚑ " if mark else ""}{escape(name)}</text>'
        )
        for k, s in enumerate(splits):
            p = prev[s][i]
            out.append(
                f'<rect class="bar" data-class="{escape(name)}" data-split="{escape(s)}" x="{label_w}" y="{y + k * 9}" '
                f'width="{max(p * plot_w, 0.5):.1f}" height="{bar_h}" fill="{_COLORS[k % len(_COLORS)]}">'
                f"<title>{escape(name)} · {escape(s)}: {p:.2%}</title></rect>"
                f'<text x="{label_w + p * plot_w + 4:.1f}" y="{y + k * 9 + 7}" font-size="9" fill="#555">{p:.1%}</text>'
            )
    out.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{_COLORS[k % len(_COLORS)]}"></i>{escape(s)} '
        f"({labels['splits'][s]['images']:,} images)</span>"
        for k, s in enumerate(splits)
    )
    more = (
        f'<p class="muted">Showing {len(shown)} of {len(classes)} classes (flagged first, then by prevalence).</p>'
        if len(classes) > len(shown)
        else ""
    )
    return f'<div class="legend">{legend}</div>{"".join(out)}{more}'


def _histogram(values: list[float], title: str, xlabel: str, bins: list[tuple[str, int]] | None = None) -> str:
    if bins is None:
        if not values:
            return ""
        lo, hi = min(values), max(values)
        n = max(1, min(20, len(values)))
        if hi == lo:
            bins = [(f"{lo:g}", len(values))]
        else:
            edges = [lo + (hi - lo) * j / n for j in range(n + 1)]
            counts = [0] * n
            for v in values:
                counts[min(n - 1, int((v - lo) / (hi - lo) * n))] += 1
            bins = [(f"{edges[j]:.0f}–{edges[j + 1]:.0f}", counts[j]) for j in range(n)]
    width, height, pad, top_margin = 900, 130, 30, 16
    top = max(c for _, c in bins) or 1
    bw = (width - 2 * pad) / len(bins)
    out = [
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height + 40 + top_margin}" xmlns="http://www.w3.org/2000/svg">'
        f'<g transform="translate(0,{top_margin})">'
    ]
    for j, (label, c) in enumerate(bins):
        h = c / top * height
        x = pad + j * bw
        out.append(
            f'<rect x="{x + 1:.1f}" y="{height - h + 5:.1f}" width="{max(bw - 2, 1):.1f}" height="{h:.1f}" fill="#3b6fb6">'
            f"<title>{escape(label)}: {c}</title></rect>"
            f'<text x="{x + bw / 2:.1f}" y="{height + 20}" font-size="10" text-anchor="middle" fill="#555">{escape(label)}</text>'
            f'<text x="{x + bw / 2:.1f}" y="{height - h + 1:.1f}" font-size="10" text-anchor="middle" fill="#333">{c}</text>'
        )
    out.append(
        f'<text x="{width / 2}" y="{height + 36}" font-size="11" text-anchor="middle" fill="#777">{escape(xlabel)}</text></g></svg>'
    )
    return "".join(out)


def render_html(report: Report, *, fragment: bool = False) -> str:
    """The report as one self-contained page, or (``fragment=True``, for Jupyter) the same content as a
    ``<div>`` with its scoped ``<style>``, to sit inside another page.
    """
    data = report.to_dict()
    counts = data["summary"]["counts"]
    labels = report.summary.get("labels")
    flagged = {
        f.subject
        for f in report.findings
        if f.family in ("label_skew", "class_counts")
        and f.severity.rank >= 1
        and labels
        and f.subject in labels["classes"]
    }
    style = f"<style>{_CSS}</style>"
    head = (
        style
        if fragment
        else (
            f"<!doctype html><html lang=en><head><meta charset=utf-8><title>pipecheck "
            f"{escape(report.command)}</title>{style}</head><body>"
        )
    )
    parts = [
        f'{head}<div class="pipecheck-report">',
        f'<h1>pipecheck {escape(report.command)}: <span class="{data["status"]}">{data["status"].upper()}</span></h1>',
        f"<p>{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info — fail-on "
        f"<code>{report.fail_on.value}</code> · pipecheck {escape(data['pipecheck_version'])}</p>",
    ]
    if labels:
        parts.append(
            "<h2>Per-class prevalence by split</h2>"
            f'<p>Share of images carrying each class. <span class="flag">⚑ flagged</span> classes have a '
            f"label_skew or class_counts warning or error.</p>{_bars(labels, flagged)}"
        )
        first = next(iter(labels["splits"]), None)
        if first:
            per_class = labels["splits"][first]["positives"]
            parts.append(
                f"<h2>Class-count histogram ({escape(first)})</h2>"
                + _histogram(
                    [float(v) for v in per_class], "class counts", f"images per class in {first} → number of classes"
                )
            )
        parts.append("<h2>Labels per image</h2>")
        for s, info in labels["splits"].items():
            hist = info["labels_per_image"]
            parts.append(
                f"<h3>{escape(s)}</h3>"
                + _histogram(
                    [],
                    f"labels per image {s}",
                    "labels per image → images",
                    bins=[(str(k), int(c)) for k, c in enumerate(hist)],
                )
            )
    ran = report.checks_run
    if report.summary.get("image_quality") and (not ran or any(c.startswith("image_quality.") for c in ran)):
        # drawn unless the user ignored the family (--ignore image_quality)
        parts.append(render_image_quality(report.summary["image_quality"], report.findings, colors=_COLORS))
    if "input_visuals" in report.summary:
        from pipecheck.html_inputs import render_input_visuals

        parts.append(render_input_visuals(report.summary["input_visuals"]))
    parts.append("<h2>Findings</h2>")
    if report.findings:
        rows = "".join(
            f'<tr><td class="sev-{f.severity.value}">{f.severity.value}</td><td><code>{escape(f.check)}</code></td>'
            f"<td>{escape(f.subject)}</td><td>{escape(f.message)}</td><td>{escape(f.hint)}</td></tr>"
            for f in report.sorted_findings()
        )
        parts.append(
            f"<table><tr><th>severity</th><th>check</th><th>subject</th><th>message</th><th>hint</th></tr>{rows}</table>"
        )
    else:
        parts.append("<p>No findings.</p>")
    parts.append("</div>" if fragment else "</div></body></html>\n")
    return "".join(parts)


def write_html(report: Report, path: str) -> None:
    """Write the page atomically (temp name, then rename)."""
    from pipecheck.pipeline.fsio import write_atomic
    from pipecheck.render import printable

    write_atomic(path, printable(render_html(report)).encode("utf-8"))
