"""``pipecheck validate --data DIR``: report formats, exit codes, --ignore/--fail-on, and the HTML page.

Two session builds (``conftest.py``): the committed sample (healthy, exit 0) and a forced split
where class ``cow`` is missing from val (exit 1). Commands run in process; the reader part runs at
32 px on two batches so the whole file stays fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

READER = ["--backbone", "resnet50", "--image-size", "32", "--batches", "2"]
FINDING_KEYS = {"check", "severity", "message", "subject", "evidence", "hint"}


@pytest.fixture(scope="module")
def sample_run(pipecheck_cli, cli_sample_build, tmp_path_factory):
    html = tmp_path_factory.mktemp("html_sample") / "report.html"
    result = pipecheck_cli("validate", "--data", cli_sample_build, *READER, "--html", html, "--format", "json")
    return result, json.loads(result.stdout), html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def skewed_run(pipecheck_cli, skewed_build, tmp_path_factory):
    html = tmp_path_factory.mktemp("html_skewed") / "report.html"
    result = pipecheck_cli("validate", "--data", skewed_build, *READER, "--html", html, "--format", "json")
    return result, json.loads(result.stdout), html


def _checks(report):
    return [(f["check"], f["subject"]) for f in report["findings"]]


# --------------------------------------------------------------------------- JSON and exit codes
def test_json_report_shape_on_a_healthy_build(sample_run):
    result, report, _ = sample_run
    assert result.exit_code == 0, result.output
    assert {"pipecheck_version", "command", "status", "findings", "summary"} <= set(report)
    assert report["command"] == "validate" and report["status"] == "pass" and report["fail_on"] == "error"
    assert all(set(f) == FINDING_KEYS for f in report["findings"])
    assert not [f for f in report["findings"] if f["severity"] == "error"]
    summary = report["summary"]
    assert set(summary["counts"]) == {"error", "warning", "info"}
    assert summary["counts"]["warning"] == sum(f["severity"] == "warning" for f in report["findings"])
    run = set(summary["checks_run"])
    for check in (
        "dataset.accounting",
        "label_skew.absent_in_split",
        "class_counts.too_few_train",
        "leakage.exact_duplicate",
        "schema.drift",
        "input_range.rescaled_0_1",
    ):
        assert check in run, check
    assert summary["labels"]["classes"] and set(summary["labels"]["splits"]) == {"train", "val"}


def test_skewed_build_fails_naming_the_missing_class(skewed_run):
    result, report, _ = skewed_run
    assert result.exit_code == 1, result.output
    assert report["status"] == "fail"
    errors = [(f["check"], f["subject"]) for f in report["findings"] if f["severity"] == "error"]
    assert errors == [("label_skew.absent_in_split", "cow")]
    (absent,) = [f for f in report["findings"] if f["check"] == "label_skew.absent_in_split"]
    assert "pipecheck split" in absent["hint"]


def test_ignore_drops_a_check_or_a_family(pipecheck_cli, skewed_build):
    one = json.loads(
        pipecheck_cli(
            "validate", "--data", skewed_build, "--format", "json", "--ignore", "label_skew.absent_in_split"
        ).stdout
    )
    assert one["status"] == "pass"
    assert "label_skew.absent_in_split" not in {c for c, _ in _checks(one)}
    assert ("label_skew.summary", "all splits") in _checks(one)  # the rest of the family stays

    result = pipecheck_cli(
        "validate", "--data", skewed_build, "--format", "json", "--ignore", "label_skew", "--ignore", "class_counts"
    )
    assert result.exit_code == 0, result.output
    families = {c.split(".")[0] for c, _ in _checks(json.loads(result.stdout))}
    assert not families & {"label_skew", "class_counts"}


def test_fail_on_warning_fails_on_warnings_and_ignore_can_clear_them(pipecheck_cli, cli_sample_build):
    result = pipecheck_cli("validate", "--data", cli_sample_build, "--format", "json", "--fail-on", "warning")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "fail" and report["fail_on"] == "warning"
    warned = {
        c.split(".")[0]
        for c, _ in _checks(report)
        if next(f for f in report["findings"] if f["check"] == c)["severity"] == "warning"
    }
    assert warned, "the sample has warnings (too few images per class)"
    ignore = [a for fam in sorted(warned) for a in ("--ignore", fam)]
    cleared = pipecheck_cli("validate", "--data", cli_sample_build, "--format", "json", "--fail-on", "warning", *ignore)
    assert cleared.exit_code == 0, cleared.output


def test_unusable_input_exits_2_with_one_line(pipecheck_cli, tmp_path):
    for args in ([], ["--data", str(tmp_path / "missing")]):
        result = pipecheck_cli("validate", *args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pipecheck: error:"), result.stderr
        assert "Traceback" not in result.output


# --------------------------------------------------------------------------- junit, markdown
def test_junit_is_well_formed_with_one_testcase_per_check(pipecheck_cli, skewed_build):
    report = json.loads(pipecheck_cli("validate", "--data", skewed_build, "--format", "json").stdout)
    result = pipecheck_cli("validate", "--data", skewed_build, "--format", "junit")
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout)
    cases = root.findall(".//testcase")
    names = [c.get("name") for c in cases]
    assert len(names) == len(set(names))
    assert set(report["summary"]["checks_run"]) <= set(names)
    assert set(names) == set(report["summary"]["checks_run"]) | {f["check"] for f in report["findings"]}
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {"label_skew.absent_in_split"}
    (suite,) = root.findall("testsuite")
    assert int(suite.get("tests")) == len(cases) and int(suite.get("failures")) == 1
    assert "cow" in next(c for c in cases if c.get("name") == "label_skew.absent_in_split").find("failure").text


def test_markdown_has_verdict_and_findings_table(pipecheck_cli, skewed_build):
    result = pipecheck_cli("validate", "--data", skewed_build, "--format", "markdown")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "## ❌ pipecheck validate: fail"
    assert "| severity | check | subject | message | hint |" in lines
    row = next(line for line in lines if "`label_skew.absent_in_split`" in line)
    assert row.startswith("| error |") and "| cow |" in row


# --------------------------------------------------------------------------- HTML
VOID = {"meta", "br", "img", "hr", "input", "link", "area", "base", "col", "source", "wbr"}


class _Page(HTMLParser):
    """Collects bars, SVG texts and external references, and checks tags are balanced."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.bars, self.texts, self.refs = [], [], [], [], []
        self._text = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key, value in attrs:
            if key != "xmlns" and value and re.search(r"https?://|url\(", value):
                self.refs.append((tag, key, value))
        if tag in ("script", "iframe", "link", "object", "embed"):
            self.refs.append((tag, "", ""))
        if tag == "img" and not (a.get("src") or "").startswith("data:image/"):  # thumbnails are embedded
            self.refs.append((tag, "src", a.get("src") or ""))
        if tag == "rect" and a.get("class") == "bar":
            self.bars.append((a["data-class"], a["data-split"], float(a["width"])))
        if tag == "text":
            self._text = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "text" and self._text is not None:
            self.texts.append("".join(self._text))
            self._text = None
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def parse_page(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def test_html_is_self_contained_and_well_formed(sample_run):
    _, report, text = sample_run
    assert text.startswith("<!doctype html>")
    assert "<script" not in text.lower()
    # The only URL allowed is the SVG namespace name, which browsers never fetch.
    without_ns = text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in without_ns and "https://" not in without_ns
    page = parse_page(text)
    assert page.errors == [] and page.stack == []
    assert page.refs == []
    assert "PASS" in text


def test_html_has_one_bar_per_class_per_split(sample_run):
    _, report, text = sample_run
    labels = report["summary"]["labels"]
    bars = parse_page(text).bars
    assert sorted((c, s) for c, s, _ in bars) == sorted((c, s) for c in labels["classes"] for s in labels["splits"])


def test_html_marks_exactly_the_flagged_classes(skewed_run):
    _, report, html = skewed_run
    page = parse_page(html.read_text(encoding="utf-8"))
    flagged = {t.split(" ", 1)[1] for t in page.texts if t.startswith("⚑ ")}
    assert flagged == {"cow"}
    bars = {(c, s): w for c, s, w in page.bars}
    assert set(bars) == {(c, s) for c in ("ant", "bee", "cow") for s in ("train", "val")}
    assert bars[("cow", "val")] < 1 < bars[("cow", "train")]
    assert bars[("ant", "val")] > bars[("ant", "train")]  # 50% of val vs 33% of train


def test_html_of_the_healthy_build_flags_only_classes_with_findings(sample_run):
    _, report, text = sample_run
    flagged = {t.split(" ", 1)[1] for t in parse_page(text).texts if t.startswith("⚑ ")}
    expected = {
        f["subject"]
        for f in report["findings"]
        if f["check"].split(".")[0] in ("label_skew", "class_counts") and f["severity"] != "info"
    }
    assert flagged == expected & set(report["summary"]["labels"]["classes"])


def test_html_verdict_follows_fail_on(pipecheck_cli, cli_sample_build, tmp_path):
    html = tmp_path / "r.html"
    result = pipecheck_cli("validate", "--data", cli_sample_build, "--fail-on", "warning", "--html", html)
    assert result.exit_code == 1
    text = html.read_text(encoding="utf-8")
    assert '<span class="fail">FAIL</span>' in text and "fail-on <code>warning</code>" in text


def test_html_leaves_out_ignored_checks(pipecheck_cli, skewed_build, tmp_path):
    html = tmp_path / "r.html"
    result = pipecheck_cli("validate", "--data", skewed_build, "--ignore", "label_skew", "--html", html)
    assert result.exit_code == 0
    text = html.read_text(encoding="utf-8")
    assert "label_skew.absent_in_split" not in text
    assert '<span class="pass">PASS</span>' in text


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


# .ci/run installs Debian's chromium and sets PIPECHECK_REQUIRE_CHROMIUM=1: there its absence fails.
@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("PIPECHECK_REQUIRE_CHROMIUM"),
    reason="chromium is not installed here: no screenshot of the HTML report (apt-get install chromium)",
)
def test_html_renders_in_headless_chromium(skewed_run, tmp_path):
    import numpy as np
    from PIL import Image

    assert CHROMIUM, "PIPECHECK_REQUIRE_CHROMIUM is set, but chromium is not installed"
    _, _, html = skewed_run
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1150,1400",
        f"--screenshot={shot}",
        html.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert img.shape[:2] == (1400, 1150)
    non_white = (img < 240).any(axis=-1).mean()
    assert 0.005 < non_white < 0.9, non_white
    # the bars' colours are on the page (train blue #3b6fb6)
    blue = (np.abs(img - np.array([0x3B, 0x6F, 0xB6])).sum(axis=-1) < 30).sum()
    assert blue > 50
