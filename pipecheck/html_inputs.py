"""The HTML report's picture of what the model receives: per-channel value histograms against the
backbone's expected range, and sample images turned back into RGB.

Drawn from ``report.summary["input_visuals"]`` (made by ``validators/input_range/visuals.py`` during
``validate --backbone``; its layout is in that module). Inline SVG and ``data:`` URIs only; the style
rules are scoped under ``.pipecheck-report`` and travel with the fragment, so it renders the same in the
page and in a notebook. Every string from the summary is escaped; an image whose payload is not plain
base64 is left out.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

CSS = """
.pipecheck-report .pc-inputs{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.pipecheck-report .pc-inputs figure{margin:0}
.pipecheck-report .pc-inputs figcaption{font-size:12px;color:#555;max-width:310px}
.pipecheck-report .pc-thumbs img{image-rendering:pixelated;border:1px solid #ccc;background:#fff}
.pipecheck-report .pc-swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;vertical-align:-1px}
"""

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_W, _H, _LEFT, _RIGHT, _TOP, _PLOT_H = 310, 150, 8, 8, 8, 100
_INSIDE, _OUTSIDE, _BAND, _OBSERVED = "#3b6fb6", "#b3261e", "#dff0e2", "#b3261e"
_SHOWN_SIDE = 128  # thumbnails are drawn at this longest side (pixelated), whatever their stored size


def _fmt(v: float) -> str:
    return f"{float(v):.4g}"


def _histogram_svg(hist: dict[str, Any]) -> str:
    """One channel: bars over the shared bins, the expected range shaded, the observed range marked."""
    edges = [float(e) for e in hist["edges"]]
    counts = [int(c) for c in hist["counts"]]
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    plot_w = _W - _LEFT - _RIGHT

    def x(v: float) -> float:
        return _LEFT + (min(max(float(v), lo), hi) - lo) / span * plot_w

    exp_lo, exp_hi = hist.get("expected") or (lo, hi)
    obs = hist.get("observed")
    name = escape(str(hist["channel"]))
    out = [
        f'<svg class="pc-hist" role="img" aria-label="channel {name} values" width="{_W}" height="{_H}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<rect class="pc-expected" x="{x(exp_lo):.1f}" y="{_TOP}" width="{max(x(exp_hi) - x(exp_lo), 1):.1f}" '
        f'height="{_PLOT_H}" fill="{_BAND}"><title>expected [{_fmt(exp_lo)}, {_fmt(exp_hi)}]</title></rect>',
    ]
    top = max(counts) or 1
    for j, c in enumerate(counts):
        if not c:
            continue
        a, b = edges[j], edges[j + 1]
        inside = exp_lo <= (a + b) / 2 <= exp_hi  # a bin straddling a bound goes by its middle
        h = max(c / top * _PLOT_H, 1.0)
        out.append(
            f'<rect x="{x(a):.1f}" y="{_TOP + _PLOT_H - h:.1f}" width="{max(x(b) - x(a) - 0.5, 0.8):.1f}" '
            f'height="{h:.1f}" fill="{_INSIDE if inside else _OUTSIDE}"><title>[{_fmt(a)}, {_fmt(b)}): {c}</title></rect>'
        )
    base = _TOP + _PLOT_H
    out.append(f'<line x1="{_LEFT}" y1="{base}" x2="{_W - _RIGHT}" y2="{base}" stroke="#999"/>')
    if obs:
        x0, x1 = x(obs[0]), x(obs[1])
        out.append(
            f'<g class="pc-observed" stroke="{_OBSERVED}"><title>observed [{_fmt(obs[0])}, {_fmt(obs[1])}]</title>'
            f'<line x1="{x0:.1f}" y1="{_TOP}" x2="{x0:.1f}" y2="{base + 6}" stroke-dasharray="3,2"/>'
            f'<line x1="{x1:.1f}" y1="{_TOP}" x2="{x1:.1f}" y2="{base + 6}" stroke-dasharray="3,2"/>'
            f'<line x1="{x0:.1f}" y1="{base + 6}" x2="{max(x1, x0 + 1):.1f}" y2="{base + 6}" stroke-width="3"/></g>'
        )
    placed = [x(lo), x(hi)]
    for t in (lo, hi, *sorted({float(exp_lo), float(exp_hi)} - {lo, hi})):
        if t not in (lo, hi) and min(abs(x(t) - p) for p in placed) < 34:
            continue  # a label this close to another would overlap it
        placed.append(x(t))
        anchor = "start" if t == lo else "end" if t == hi else "middle"
        out.append(
            f'<text x="{x(t):.1f}" y="{base + 22}" font-size="10" text-anchor="{anchor}" fill="#555">{_fmt(t)}</text>'
        )
    out.append(f'<text x="{_LEFT}" y="{_H - 6}" font-size="11" fill="#222">channel {name}</text></svg>')
    return "".join(out)


def _caption(hist: dict[str, Any]) -> str:
    parts = [f"<b>{escape(str(hist['channel']))}</b>"]
    if hist.get("expected"):
        parts.append(f"expected [{_fmt(hist['expected'][0])}, {_fmt(hist['expected'][1])}]")
    if hist.get("observed"):
        parts.append(f"observed [{_fmt(hist['observed'][0])}, {_fmt(hist['observed'][1])}]")
    if hist.get("outside_share"):
        parts.append(f'<span class="flag">{float(hist["outside_share"]):.1%} outside</span>')
    return " · ".join(parts)


def _thumb(sample: dict[str, Any], i: int) -> str:
    data = str(sample.get("png_base64", ""))
    if not _BASE64.fullmatch(data):
        return ""
    h, w = (sample.get("size") or [_SHOWN_SIDE, _SHOWN_SIDE])[:2]
    scale = _SHOWN_SIDE / max(int(h), int(w), 1)
    note = escape(str(sample.get("note", "")))
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="sample {i + 1}: {note}" '
        f'width="{round(int(w) * scale)}" height="{round(int(h) * scale)}"><figcaption>{note}</figcaption></figure>'
    )


def render_input_visuals(summary: dict[str, Any] | None) -> str:
    """The fragment for ``report.summary["input_visuals"]``: a heading, one SVG histogram per channel (in
    the backbone's channel order), and the de-preprocessed sample thumbnails. Empty for no summary.
    """
    if not summary:
        return ""
    expected = summary.get("expected") or {}
    order = escape(str(expected.get("channel_order", "")))
    hists = summary.get("histograms") or []
    samples = summary.get("samples") or []
    out = [
        f"<style>{CSS}</style>",
        f"<h2>What {escape(str(summary.get('backbone', 'the model')))} receives</h2>",
        f"<p>Values per channel, in the order the model receives them ({order}), of a sample of the batches. "
        f'<span class="pc-swatch" style="background:{_BAND}"></span>the range the expected preprocessing '
        f"makes of [0, 255] pixels ({escape(str(expected.get('note', '')))})"
        f'<span class="pc-swatch" style="background:{_OUTSIDE}"></span>values outside it, dashed: the observed '
        "minimum and maximum.</p>",
        '<div class="pc-inputs">',
        *(f"<figure>{_histogram_svg(h)}<figcaption>{_caption(h)}</figcaption></figure>" for h in hists),
        "</div>",
    ]
    thumbs = "".join(_thumb(s, i) for i, s in enumerate(samples))
    if thumbs:
        out.append(
            "<h3>Samples, with the expected preprocessing undone</h3><p>The first images the model receives, "
            "turned back into RGB by inverting the backbone's preprocessing. They should look like your photos; "
            "flat grey, black, washed-out or blue-tinted images mean the input was not preprocessed the way "
            f'the backbone expects.</p><div class="pc-inputs pc-thumbs">{thumbs}</div>'
        )
    return "".join(out)
