"""``pipecheck validate --source ... --backbone resnet50 --html report.html`` draws what the model
receives: three channel histograms and four thumbnails with the preprocessing undone. Healthy batches come
back as the photos; the seed-001 bug (x/255 for ResNet50) comes back flat grey. Text and JSON leave the
pictures out."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "validators"))
from input_range_sources import photos  # noqa: E402

SIZE = 32  # healthy_resnet / rescaled_resnet yield 12 photos of this side, 4 a batch


def _thumbs(page: str) -> list[np.ndarray]:
    from PIL import Image

    return [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB"), dtype="float64")
        for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ]


@pytest.mark.parametrize("source, healthy", [("healthy_resnet", True), ("rescaled_resnet", False)])
def test_validate_html_shows_histograms_and_de_preprocessed_samples(pipecheck_cli, tmp_path, source, healthy):
    out = tmp_path / "report.html"
    args = ["validate", "--source", f"input_range_sources:{source}", "--source-arg", f"size={SIZE}"]
    result = pipecheck_cli(*args, "--backbone", "resnet50", "--batches", "2", "--html", out)
    assert result.exit_code == (0 if healthy else 1), result.output
    assert "input_visuals" not in result.stdout and "base64" not in result.stdout  # the text report
    page = out.read_text(encoding="utf-8")
    assert "What resnet50 receives" in page
    assert page.count('class="pc-hist"') == 3
    thumbs = _thumbs(page)
    assert len(thumbs) == 4
    raw = photos(SIZE)
    mad = [float(np.abs(t - raw[k]).mean()) for k, t in enumerate(thumbs)]
    if healthy:
        assert max(mad) < 1.0, mad
    else:
        assert min(mad) > 20.0, mad
        assert all(float(t.std(axis=(0, 1)).max()) < 1.0 for t in thumbs)  # flat grey


def test_validate_json_leaves_the_pictures_out(pipecheck_cli):
    args = ["validate", "--source", "input_range_sources:rescaled_resnet", "--source-arg", f"size={SIZE}"]
    result = pipecheck_cli(*args, "--backbone", "resnet50", "--batches", "2", "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert "input_range.rescaled_0_1" in {f["check"] for f in report["findings"]}
    assert "input_visuals" not in report["summary"] and "base64" not in result.stdout


def test_gate_html_shows_the_pictures_and_its_text_leaves_them_out(pipecheck_cli, cli_sample_build, tmp_path):
    """``gate`` nests validate's summary in its own: the pictures stay where the HTML report looks for
    them (the top of the summary), and neither the text report nor the JSON carries them (the text
    report printed ~500 lines of base64 PNG and histogram counts before)."""
    out = tmp_path / "gate.html"
    args = ["gate", "--data", cli_sample_build, "--backbone", "resnet50", "--batches", "2"]
    result = pipecheck_cli(*args, "--html", out)
    assert result.exit_code == 0, result.output
    assert "input_visuals" not in result.stdout and "base64" not in result.stdout
    assert len(result.stdout.splitlines()) < 120, result.stdout
    page = out.read_text(encoding="utf-8")
    assert "What resnet50 receives" in page and len(_thumbs(page)) == 4
    report = json.loads(pipecheck_cli(*args, "--format", "json").stdout)
    assert "input_visuals" not in report["summary"] and "input_visuals" not in report["summary"]["validate"]
