"""schema: a TFDV schema inferred from train statistics, the other splits validated against it.

Real builds with real TFDV statistics (tiny 32 px images, the split forced with a ``split`` sidecar
field where a case needs a skew). Firing cases: a categorical value only in val, label drift, no
statistics; silent twins: a stratified build, a group-aware build (group ids disjoint by design),
and a rare value that lands in val only by chance.
"""

from __future__ import annotations

import numpy as np
import pytest
from extras import needs_tfdv

from pipecheck.validators import registry
from pipecheck.validators.schema import check_schema

pytestmark = needs_tfdv  # the pipecheck[tfdv] extra; tests/cli/test_no_extras.py covers its absence


@pytest.fixture(scope="module")
def tiny_jpegs(vh):
    """Distinct 32x32 JPEGs (content is irrelevant to the schema checks: only metadata is read)."""
    from PIL import Image

    rng = np.random.default_rng(7)
    return [
        vh.encode(Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)), quality=80) for _ in range(240)
    ]


def rows_for(tiny_jpegs, n, meta_of):
    return [(f"r{i:03d}", meta_of(i), tiny_jpegs[i], ".jpg") for i in range(n)]


def build(vh, tmp_path, rows, **kw):
    dump = vh.write_all(tmp_path / "dump", rows)
    kw.setdefault("stats", True)
    return vh.build(dump, tmp_path / "out", label_field="label", **kw)


def assert_registry_hint(finding):
    info = registry.get(finding.check)
    assert finding.hint == info.hint and finding.hint
    assert finding.severity == info.severity


def forced(i: int, n_train: int) -> str:
    return "train" if i < n_train else "val"


# --------------------------------------------------------------------------- firing
def test_categorical_value_only_in_val_is_an_anomaly(vh, tiny_jpegs, tmp_path):
    def meta(i):
        camera = ["canon", "nikon"][(i // 2) % 2]
        if i >= 40 and i % 3 == 0:
            camera = "sony"  # 6 of 20 val images: a value train never had
        return {"label": "ab"[i % 2], "split": forced(i, 40), "camera": camera}

    result = build(vh, tmp_path, rows_for(tiny_jpegs, 60, meta), split_field="split")
    findings = check_schema(result.out_dir)
    anomalies = [f for f in findings if f.check == "schema.anomaly"]
    assert [f.subject for f in anomalies] == ["meta/camera"]
    (f,) = anomalies
    assert "sony" in f.message and f.message.startswith("val vs train")
    assert f.evidence["split"] == "val"
    assert (f.evidence["train_examples"], f.evidence["val_examples"]) == (40, 20)
    assert_registry_hint(f)
    # nothing is said about the label, which is balanced in both splits
    assert {f.subject for f in findings} == {"meta/camera"}


def test_label_distribution_drift_is_schema_drift_on_label(vh, tiny_jpegs, tmp_path):
    def meta(i):
        label = "ab"[i % 2] if i < 40 else ("b" if i % 5 == 0 else "a")  # val: 80% a, train 50%
        return {"label": label, "split": forced(i, 40), "camera": ["canon", "nikon"][(i // 2) % 2]}

    result = build(vh, tmp_path, rows_for(tiny_jpegs, 60, meta), split_field="split")
    findings = check_schema(result.out_dir)
    assert [(f.check, f.subject) for f in findings] == [("schema.drift", "label")]
    (f,) = findings
    assert "0.3" in f.message  # L-infinity 0.8 - 0.5
    assert_registry_hint(f)


def test_build_without_statistics_is_reported_once(vh, tiny_jpegs, tmp_path):
    result = build(
        vh, tmp_path, rows_for(tiny_jpegs, 20, lambda i: {"label": "ab"[i % 2]}), stats=False, val_fraction=0.3
    )
    findings = check_schema(result.out_dir)
    assert [(f.check, f.subject) for f in findings] == [("schema.no_statistics", result.out_dir)]
    assert findings[0].severity.value == "info"
    assert_registry_hint(findings[0])


# --------------------------------------------------------------------------- silent twins
def test_stratified_build_is_silent(vh, tiny_jpegs, tmp_path):
    def meta(i):
        return {"label": "abc"[i % 3], "camera": ["canon", "nikon"][(i // 3) % 2], "iso": [100, 200, 400][(i // 6) % 3]}

    result = build(vh, tmp_path, rows_for(tiny_jpegs, 120, meta), val_fraction=0.25)
    assert set(result.manifest["statistics"]) == {"train", "val"}
    assert check_schema(result.out_dir) == []


def test_group_ids_disjoint_across_splits_are_not_flagged(vh, tiny_jpegs, tmp_path):
    from pipecheck.pipeline import stats as stats_mod

    def meta(i):
        return {"label": "ab"[i % 2], "camera": ["canon", "nikon"][(i // 2) % 2], "specimen": f"S{i // 4:02d}"}

    result = build(vh, tmp_path, rows_for(tiny_jpegs, 120, meta), val_fraction=0.25, group_field="specimen")
    assert check_schema(result.out_dir) == []

    # The case is not vacuous: a plain TFDV schema from train flags every val specimen as unseen.
    tfdv = stats_mod.import_tfdv()
    train = stats_mod.load_statistics(result.out_dir, "train")
    val = stats_mod.load_statistics(result.out_dir, "val")
    plain = tfdv.validate_statistics(val, tfdv.infer_schema(train))
    assert "meta/specimen" in {k.strip("'") for k in plain.anomaly_info}


def test_rare_value_in_val_only_by_chance_is_silent(vh, tiny_jpegs, tmp_path):
    from pipecheck.pipeline import stats as stats_mod

    # 130 train / 110 val, balanced labels and cameras; one val image (0.9%) has a camera train lacks.
    def meta(i):
        camera = "leica" if i == 200 else ["canon", "nikon"][(i // 2) % 2]
        return {"label": "ab"[i % 2], "split": forced(i, 130), "camera": camera}

    result = build(vh, tmp_path, rows_for(tiny_jpegs, 240, meta), split_field="split")
    val = stats_mod.load_statistics(result.out_dir, "val")
    (camera,) = [f for f in val.datasets[0].features if "camera" in str(f.path)]
    assert "leica" in {v.value for v in camera.string_stats.top_values}  # the rare value is really there
    assert check_schema(result.out_dir) == []
