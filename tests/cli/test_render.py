"""Report rendering: every format stays well-formed when user data carries control characters (a class
name with a control character used to make ``--format junit`` write XML that expat rejects), and the
findings of one check read as one entry in text and Markdown (``--verbose`` lists each)."""

from __future__ import annotations

import json
import xml.parsers.expat

import pytest

from pipecheck.render import render
from pipecheck.validators import registry
from pipecheck.validators.findings import Report

HOSTILE = "cat\x01\x0b\x1b[31mred\x7f\ufffe"


@pytest.fixture
def report():
    registry.all_checks()  # imports every family, so their ids are declared
    f = registry.finding(
        "class_counts.too_few_val", f"class {HOSTILE!s} has 0 val images", subject=HOSTILE, evidence={"class": HOSTILE}
    )
    r = Report("validate", [f])
    r.checks_run = ["class_counts.too_few_val"]
    r.summary["classes"] = HOSTILE
    return r


def test_junit_parses_with_expat(report):
    xml.parsers.expat.ParserCreate().Parse(render(report, "junit").encode("utf-8"), True)
    assert "cat\\x01\\x0b\\x1b[31mred\\x7f\\ufffe" in render(report, "junit")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_text_formats_carry_no_control_characters(report, fmt):
    out = render(report, fmt)
    assert not [c for c in out if (ord(c) < 32 and c not in "\t\n\r") or 0x7F <= ord(c) <= 0x9F]
    assert "\\x1b[31mred" in out


def test_json_keeps_the_exact_value(report):
    data = json.loads(render(report, "json"))
    assert data["findings"][0]["subject"] == HOSTILE


def test_html_page_has_no_control_characters(report, tmp_path):
    from pipecheck.html import write_html

    path = tmp_path / "r.html"
    write_html(report, str(path))
    text = path.read_text(encoding="utf-8")
    assert "\x01" not in text and "\x1b" not in text and "\\x01" in text


def _many():
    registry.all_checks()
    findings = [
        registry.finding("class_counts.too_few_val", f"{c}: 2 val images (< 10)", subject=c)
        for c in ("ant", "bee", "cat")
    ]
    findings.append(registry.finding("input_range.rescaled_0_1", "x/255 input", subject="resnet50"))
    return Report("validate", findings)


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_findings_of_one_check_read_as_one_entry_and_verbose_lists_each(fmt):
    grouped = render(_many(), fmt)
    assert grouped.count("class_counts.too_few_val") == 1 and "×3" in grouped
    assert "ant, bee, cat" in grouped and grouped.count("Move images of these classes") == 1
    full = render(_many(), fmt, verbose=True)
    assert full.count("class_counts.too_few_val") == 3 and "×3" not in full
    assert all(f"{c}: 2 val images" in full for c in ("ant", "bee", "cat"))


def test_text_summary_is_bounded_for_a_terminal():
    """Summaries hold lists of examples, drift tables and long strings for the JSON and HTML reports;
    the text report names their size instead (validate's image-quality summary printed ~60 lines of
    examples before)."""
    example = {"split": "train", "id": "IMG_1", "scores": {f"m{k}": k / 3 for k in range(12)}}
    summary = {
        "images": 250,
        "issues": {"dark": {"count": 5, "by_split": {"train": 5, "val": 0}, "examples": [example] * 5}},
        "drift": [{"property": "contrast", "p_value": 0.5}] * 7,
        "levels": list(range(40)),
        "note": "y" * 500,
        "deep": {"a": {"b": {"c": {"d": 1}}}},
        "fences": {"long_side": [92.1, 1056.0]},
    }
    r = Report("validate", [])
    r.summary["image_quality"] = summary
    out = render(r, "text")
    assert "IMG_1" not in out and "y" * 200 not in out and "39" not in out
    for shown in ("examples: [5 items]", "drift: [7 items]", "levels: [40 items]", "by_split: {train: 5, val: 0}"):
        assert shown in out, out
    assert "{d: 1}" not in out and "c: {1 key}" in out
    assert "long_side: [92.1, 1056]" in out
    assert len(out.splitlines()) < 15, out
