"""The HTML report's *Image quality* section: the flagged images themselves, where a person would
rather look than read.

Drawn from ``report.summary["image_quality"]`` (set by ``validate --data``; its shape is documented in
``validators/image_quality.py``): per issue with images, a row of thumbnails captioned with the
image's ``split:id``, labels and the score that flagged it; duplicates as pairs side by side (across
splits first); per-class bars of each issue's rate per split (classes with a finding first); the
measures that drift between splits; and the build's rejected files by reason.

Thumbnails are read from the build (``pipeline/thumbnails.py``) and embedded as ``data:`` URIs, so
the page stays one file with no external request. The section is bounded whatever the build's size:
at most :data:`MAX_THUMBNAILS` thumbnails of at most 4 KB (112 px, ``thumbnails.MAX_BYTES``), captions and
names cut short, :data:`MAX_CHART_CLASSES` classes per chart, :data:`MAX_SPLITS` splits; it stays
under :data:`SECTION_BOUND` bytes (``tests/cli/test_html_quality.py`` holds it to that at 100k-image
counts).
"""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any, Iterable

from pipecheck.validators.findings import Finding

PER_ISSUE = 6  # thumbnails per issue (3 pairs for duplicates)
MAX_CHART_CLASSES = 12
MAX_SPLITS = 6
MAX_DRIFT_ROWS = 24
REJECT_EXAMPLES = 3
SECTION_BOUND = 600_000  # bytes of HTML, thumbnails included
MAX_THUMBNAILS = 60  # on the page (pipeline.thumbnails holds each to MAX_BYTES, 4 KB)
THUMB_SIDE = 112
_NAME = 48  # characters of an id, class or path shown

CSS = """
.pipecheck-report .pq-row{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0 14px}
.pipecheck-report .pq-fig{margin:0;width:124px;font-size:11px;line-height:1.3;overflow-wrap:anywhere}
.pipecheck-report .pq-fig img,.pipecheck-report .pq-none{display:block;border:1px solid #ccc;background:#f4f4f4}
.pipecheck-report .pq-none{width:112px;height:84px;color:#999;text-align:center;line-height:84px}
.pipecheck-report .pq-pair{display:flex;gap:4px;align-items:center;border:1px solid #eee;border-radius:4px;padding:4px}
.pipecheck-report .pq-pair>b{font-size:18px;color:#777}
.pipecheck-report .pq-cross{border-color:#b3261e}
.pipecheck-report .pq-score{color:#b3261e}
"""

_DESCRIBE = {
    "dark": "even the brightest twentieth of the image is dim",
    "light": "even the darkest twentieth of the image is bright (washed out)",
    "low_information": "little in the picture: a blank, flat or posterized image",
    "blurry": "its edges are soft (out of focus or upscaled)",
    "grayscale": "a gray picture stored as RGB",
    "odd_aspect_ratio": "a shape far from the build's usual aspect ratio",
    "odd_size": "a size far from the build's usual size",
    "exact_duplicate": "the same pixels as another image",
    "near_duplicate": "nearly the same picture as another (difference hash)",
}
_DUPLICATES = ("exact_duplicate", "near_duplicate")
_CONCENTRATION = ("image_quality.split_concentrated", "image_quality.class_concentrated")


def _short(text: Any, n: int = _NAME) -> str:
    text = str(text)
    return escape(text if len(text) <= n else text[: n - 1] + "…")


def _score(issue: str, ex: dict[str, Any], iq: dict[str, Any]) -> str:
    """The number that flagged an image on ``issue``, against its threshold."""
    s, fences = ex.get("scores") or {}, iq.get("fences") or {}
    t = {k: format(v, "g") if isinstance(v, (int, float)) else "?" for k, v in (iq.get("thresholds") or {}).items()}

    def has(*names: str) -> bool:
        return all(isinstance(s.get(n), (int, float)) for n in names)

    if issue == "dark" and has("brightness_p95"):
        return f"brightness p95 {s['brightness_p95']:g} ≤ {t.get('dark_p95', '?')}"
    if issue == "light" and has("brightness_p05"):
        return f"brightness p05 {s['brightness_p05']:g} ≥ {t.get('light_p05', '?')}"
    if issue == "low_information" and has("entropy"):
        return f"entropy {s['entropy']:.2f} bits &lt; {t.get('low_information_entropy', '?')}"
    if issue == "blurry" and has("sharpness"):
        return f"sharpness {s['sharpness']:.2f} &lt; {t.get('blurry_sharpness', '?')}"
    if issue == "grayscale" and has("gray_spread"):
        return f"colour spread {s['gray_spread']:g} ≤ {t.get('grayscale_spread', '?')}"
    if issue in ("odd_aspect_ratio", "odd_size") and has("width", "height"):
        w, h = s["width"], s["height"]
        key = "aspect_ratio" if issue == "odd_aspect_ratio" else "long_side"
        lo, hi = (fences.get(key) or ["?", "?"])[:2]
        if issue == "odd_aspect_ratio":
            return f"aspect {w / max(h, 1):.2f} outside {lo}–{hi}"
        return f"{w:g}×{h:g} px, long side outside {lo}–{hi}"
    return ""


def _figure(key: tuple[str, str], thumbs: dict[tuple[str, str], bytes], caption: str) -> str:
    name = f"{key[0]}:{key[1]}"
    data = thumbs.get(key)
    if data is None:
        image = '<div class="pq-none">no image</div>'
    else:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
        image = (
            f'<img src="data:image/jpeg;base64,{base64.b64encode(data).decode("ascii")}" width="{w}" height="{h}" '
            f'alt="{escape(name)}" data-key="{escape(name)}">'
        )
    return f'<figure class="pq-fig">{image}<figcaption><code>{_short(name)}</code>{caption}</figcaption></figure>'


def _labels(ex: dict[str, Any]) -> str:
    labels = [str(x) for x in ex.get("labels") or []]
    more = f" +{len(labels) - 3}" if len(labels) > 3 else ""
    return f"<br>{_short(', '.join(labels[:3]))}{more}" if labels else ""


def _partner(ex: dict[str, Any]) -> tuple[str, str] | None:
    """The duplicate shown beside ``ex``: the first in another split (the leak), else the first."""
    keys = []
    for other in ex.get("duplicates") or []:
        split, sep, image_id = str(other).partition(":")
        if sep:
            keys.append((split, image_id))
    return next((k for k in keys if k[0] != str(ex.get("split"))), keys[0] if keys else None)


def _pairs(examples: list[dict[str, Any]]) -> list[tuple[dict[str, Any], tuple[str, str], bool]]:
    """(example, its partner's key, across splits) per distinct pair, across splits first."""
    out, seen = [], set()
    for ex in examples:
        partner = _partner(ex)
        if partner is None:
            continue
        key = (str(ex.get("split")), str(ex.get("id")))
        pair = frozenset((key, partner))
        if pair in seen:
            continue
        seen.add(pair)
        out.append((ex, partner, partner[0] != key[0]))
    out.sort(key=lambda p: not p[2])
    return out[: PER_ISSUE // 2]


def _wanted(issues: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    """The records shown, in page order (the thumbnail budget goes to the first)."""
    keys = []
    for issue, info in issues:
        examples = info.get("examples") or []
        if issue in _DUPLICATES:
            for ex, partner, _ in _pairs(examples):
                keys += [(str(ex.get("split")), str(ex.get("id"))), partner]
        else:
            keys += [(str(ex.get("split")), str(ex.get("id"))) for ex in examples[:PER_ISSUE]]
    return keys


def _gallery(issue: str, info: dict[str, Any], iq: dict[str, Any], thumbs: dict[tuple[str, str], bytes]) -> str:
    examples = info.get("examples") or []
    if issue in _DUPLICATES:
        sign = "=" if issue == "exact_duplicate" else "≈"
        items = []
        for ex, partner, cross in _pairs(examples):
            key = (str(ex.get("split")), str(ex.get("id")))
            note = '<br><span class="pq-score">across splits</span>' if cross else ""
            items.append(
                f'<div class="pq-pair{" pq-cross" if cross else ""}">{_figure(key, thumbs, _labels(ex) + note)}'
                f"<b>{sign}</b>{_figure(partner, thumbs, '')}</div>"
            )
    else:
        items = []
        for ex in examples[:PER_ISSUE]:
            key = (str(ex.get("split")), str(ex.get("id")))
            score = _score(issue, ex, iq)
            items.append(
                _figure(key, thumbs, _labels(ex) + (f'<br><span class="pq-score">{score}</span>' if score else ""))
            )
    return f'<div class="pq-row" data-issue="{escape(issue)}">{"".join(items)}</div>' if items else ""


def _rate_bars(issue: str, rates: dict[str, dict[str, list]], marked: set[str], colors: list[str]) -> str:
    """Per class (marked first, then highest rate), the share of its images flagged, one bar per split."""
    splits: list[str] = []
    for per_split in rates.values():
        splits += [s for s in per_split if s not in splits]
    splits = splits[:MAX_SPLITS]

    def rate(c: str, s: str) -> float:
        flagged, images = (list(rates[c].get(s) or [0, 0]) + [0, 0])[:2]
        return flagged / images if images else 0.0

    def flagged(c: str) -> bool:
        return any((list(v or [0]) + [0])[0] for v in rates[c].values())

    hit = [c for c in rates if c in marked or flagged(c)]
    order = sorted(hit, key=lambda c: (c not in marked, -max((rate(c, s) for s in splits), default=0), c))
    shown = order[:MAX_CHART_CLASSES]
    if not shown:
        return ""
    top = max((rate(c, s) for c in shown for s in splits), default=0) or 1.0
    scale = next(v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0) if v >= top - 1e-12) if top <= 1 else top
    row_h, label_w, width = 6 + 9 * len(splits), 170, 900
    plot_w = width - label_w - 90
    height = row_h * len(shown) + 24
    out = [
        f'<svg role="img" aria-label="{escape(issue)} rate per class and split" width="{width}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in (0, 0.5, 1.0):
        x = label_w + tick * plot_w
        out.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 18}" stroke="#eee"/>'
            f'<text x="{x:.1f}" y="{height - 4}" font-size="11" text-anchor="middle" fill="#777">{tick * scale:.0%}</text>'
        )
    for row, c in enumerate(shown):
        y = row * row_h + 4
        mark = c in marked
        out.append(
            f'<text x="{label_w - 6}" y="{y + row_h / 2 + 1:.1f}" font-size="12" text-anchor="end" '
            f'fill="{"#b3261e" if mark else "#222"}">{"⚑ " if mark else ""}{_short(c, 26)}</text>'
        )
        for k, s in enumerate(splits):
            flagged, images = (list(rates[c].get(s) or [0, 0]) + [0, 0])[:2]
            p = rate(c, s)
            out.append(
                f'<rect class="pq-bar" data-issue="{escape(issue)}" data-class="{_short(c)}" data-split="{_short(s)}" '
                f'x="{label_w}" y="{y + k * 9}" width="{max(p / scale * plot_w, 0.5):.1f}" height="8" '
                f'fill="{colors[k % len(colors)]}"><title>{_short(c)} · {_short(s)}: {flagged}/{images}</title></rect>'
                f'<text x="{label_w + p / scale * plot_w + 4:.1f}" y="{y + k * 9 + 7}" font-size="9" fill="#555">'
                f"{flagged}/{images}</text>"
            )
    out.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{colors[k % len(colors)]}"></i>{_short(s)}</span>' for k, s in enumerate(splits)
    )
    more = (
        f'<p class="muted">Showing {len(shown)} of {len(hit)} classes with flagged images (marked first, then by rate).</p>'
        if len(hit) > len(shown)
        else ""
    )
    return f'<div class="legend">{legend}</div>{"".join(out)}{more}'


def _marked(findings: Iterable[Finding]) -> dict[str, set[str]]:
    """Per issue with a split or class concentration finding, the classes those findings name."""
    out: dict[str, set[str]] = {}
    for f in findings:
        if f.check not in _CONCENTRATION or not isinstance(f.evidence, dict) or not f.evidence.get("issue"):
            continue
        named = [f.evidence.get("class")] + [
            c.get("class") for c in f.evidence.get("classes") or [] if isinstance(c, dict)
        ]
        out.setdefault(str(f.evidence["issue"]), set()).update(str(c) for c in named if c is not None)
    return out


def _drift(rows: list[dict[str, Any]]) -> str:
    rows = sorted(rows, key=lambda r: not r.get("flagged"))
    if not rows:
        return ""

    def num(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, (int, float)) else "—"

    body = "".join(
        f"<tr><td>{'<span class=flag>⚑</span> ' if r.get('flagged') else ''}{_short(r.get('property'))}</td>"
        f"<td>{_short(r.get('a'))} vs {_short(r.get('b'))}</td><td>{num(r.get('statistic'), '.3f')}</td>"
        f"<td>{num(r.get('p_value'), '.2g')}</td><td>{num(r.get('effect'), '.3f')}</td></tr>"
        for r in rows[:MAX_DRIFT_ROWS]
    )
    more = (
        f'<p class="muted">{len(rows) - MAX_DRIFT_ROWS} more comparisons not shown.</p>'
        if len(rows) > MAX_DRIFT_ROWS
        else ""
    )
    return (
        "<h3>Measures that differ between splits</h3><table><tr><th>measure</th><th>splits</th><th>statistic</th>"
        f"<th>p-value</th><th>effect</th></tr>{body}</table>{more}"
    )


def _rejects(data_dir: str | None) -> str:
    """Rejected files by reason: a count, what it means, and the first few paths with their detail."""
    from pipecheck.pipeline.manifest import REJECTS_NAME
    from pipecheck.pipeline.rejects import REASONS

    if not data_dir:
        return ""
    counts: Counter[str] = Counter()
    firsts: dict[str, list[dict[str, Any]]] = {}
    try:
        with open(Path(data_dir) / REJECTS_NAME, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(row, dict):
                    continue
                reason = str(row.get("reason", "?"))
                counts[reason] += 1
                if len(firsts.setdefault(reason, [])) < REJECT_EXAMPLES:
                    firsts[reason].append(row)
    except OSError:
        return ""
    if not counts:
        return "<h3>Rejected files</h3><p>None: every input the build found was written.</p>"
    rows = "".join(
        f"<tr><td><code>{_short(reason)}</code></td><td>{n:,}</td><td>{escape(REASONS.get(reason, ''))}</td><td>"
        + "<br>".join(
            f"<code>{_short(r.get('path', ''), 80)}</code>"
            + (f' <span class="muted">{_short(r.get("detail"), 120)}</span>' if r.get("detail") else "")
            for r in firsts[reason]
        )
        + "</td></tr>"
        for reason, n in counts.most_common()
    )
    return (
        f"<h3>Rejected files ({sum(counts.values()):,})</h3><table><tr><th>reason</th><th>files</th><th>meaning</th>"
        f"<th>first files</th></tr>{rows}</table>"
    )


def render_image_quality(iq: dict[str, Any], findings: Iterable[Finding], *, colors: list[str]) -> str:
    """The *Image quality* section of the page (bounded: see the module's docstring)."""
    issues: dict[str, Any] = iq.get("issues") or {}
    images, measured = int(iq.get("images") or 0), int(iq.get("measured") or 0)
    class_rates: dict[str, Any] = iq.get("class_rates") or {}
    marked = _marked(findings)
    with_images = [(i, info) for i, info in issues.items() if info.get("count")]
    shown = sorted(with_images, key=lambda p: p[0] not in marked)  # issues with a concentration finding first
    from pipecheck.pipeline.quality import QUALITY_NAME
    from pipecheck.pipeline.thumbnails import thumbnails

    data_dir = iq.get("data_dir")
    thumbs = thumbnails(data_dir, _wanted(shown), max_side=THUMB_SIDE, limit=MAX_THUMBNAILS) if data_dir else {}
    parts = [
        "<h2>Image quality</h2>",
        f"<p>{measured:,} of {images:,} images measured in the build"
        + (" (built with <code>--no-quality</code>: duplicates only)" if images and not measured else "")
        + f". Thumbnails are at most {THUMB_SIDE} px, {MAX_THUMBNAILS} on the page"
        + (f"; <code>{_short(f'{data_dir}/{QUALITY_NAME}', 120)}</code> lists every flagged image" if data_dir else "")
        + ".</p>",
    ]
    if not with_images:
        parts.append("<p>No image was flagged.</p>")
    else:
        rows = "".join(
            f"<tr><td>{'<span class=flag>⚑</span> ' if i in marked else ''}{escape(i.replace('_', ' '))}</td>"
            f"<td>{info['count']:,}</td><td>{float(info.get('rate') or 0):.2%}</td><td>"
            + " · ".join(f"{_short(s)} {n:,}" for s, n in list((info.get("by_split") or {}).items())[:MAX_SPLITS])
            + f"</td><td>{escape(_DESCRIBE.get(i, ''))}</td></tr>"
            for i, info in with_images
        )
        parts.append(
            f"<table><tr><th>issue</th><th>images</th><th>rate</th><th>by split</th><th>meaning</th></tr>{rows}</table>"
        )
    for issue, info in shown:
        parts.append(f"<h3>{escape(issue.replace('_', ' '))}: {info['count']:,} image(s)</h3>")
        parts.append(_gallery(issue, info, iq, thumbs))
        if issue in class_rates and class_rates[issue]:
            parts.append(
                f"<p>Share of each class's images flagged <i>{escape(issue.replace('_', ' '))}</i>, per split.</p>"
                + _rate_bars(issue, class_rates[issue], marked.get(issue, set()), colors)
            )
    parts.append(_drift(list(iq.get("drift") or [])))
    parts.append(_rejects(data_dir))
    return "".join(parts)
