"""Sidecar fuzzing: whatever bytes a sidecar holds, reading it and extracting labels never raise, and
every input of a generated dump is written or rejected with a reason.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from held_dump import _jpeg, _small_dump
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from procs import cli

from pipecheck.pipeline import spec
from pipecheck.pipeline.dump import clean_text, read_sidecar
from pipecheck.pipeline.labels import LabelSpec, coerce_meta, extract_labels, flatten_meta, meta_types
from pipecheck.pipeline.rejects import REASONS

# --- sidecar fuzzing -----------------------------------------------------------------------

_any_char = st.characters(blacklist_categories=())  # includes lone surrogates
_keys = st.one_of(
    st.sampled_from(["label", "tags", "a", "a.b", "b", "", "label.x", "n"]), st.text(_any_char, max_size=6)
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(_any_char, max_size=12),
    st.sampled_from(
        ["NaN", "nan", "Infinity", "-0", "", "  ", "null", "../../etc/passwd", "/etc/passwd", "\ud800", "a,b,,c"]
    ),
)
json_values = st.recursive(
    _scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(_keys, kids, max_size=4)),
    max_leaves=12,
)
sidecar_objects = st.one_of(
    json_values,
    st.dictionaries(_keys, json_values, max_size=5),
    st.builds(
        lambda label, rest: {**rest, "label": label}, json_values, st.dictionaries(_keys, json_values, max_size=3)
    ),
)
SPECS = [
    LabelSpec("label"),
    LabelSpec("label", True),
    LabelSpec("label", True, ",", True),
    LabelSpec("a.b"),
    LabelSpec("tags", True, "|"),
]


def _sidecar_bytes(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=True).encode()


def _check_labels(meta: dict) -> None:
    for label_spec in SPECS:
        labels, reason, detail = extract_labels(meta, label_spec)
        assert reason == "" or reason in REASONS
        if reason == "":
            assert all(isinstance(x, str) and x for x in labels)
            assert labels or (label_spec.multi_label and label_spec.allow_empty)
            if not label_spec.multi_label:
                assert len(labels) == 1
    flat = flatten_meta(meta, skip={"label"})
    types = meta_types([flat])
    coerce_meta(flat, types)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        sidecar_objects.map(_sidecar_bytes),
        st.builds(lambda a, b: a + b, sidecar_objects.map(_sidecar_bytes), st.binary(max_size=8)),
    )
)
def test_read_sidecar_and_labels_never_raise(tmp_path_factory, raw):
    path = tmp_path_factory.getbasetemp() / "fuzz_sidecar.json"
    path.write_bytes(raw)
    meta, problem = read_sidecar(str(path))
    if problem:
        assert meta == {} and isinstance(problem, str)
        return
    assert isinstance(meta, dict)
    json.dumps(meta, ensure_ascii=False).encode("utf-8")  # clean_text: every string is encodable
    _check_labels(meta)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, json_values, max_size=6))
def test_extract_labels_on_arbitrary_objects_never_raises(meta):
    _check_labels(clean_text(meta))


def test_deeply_nested_sidecar_is_a_reject_not_a_crash(tmp_path):
    for depth in (100, 300, 450, 600, 800, 1000, 3000, 20000):
        path = tmp_path / f"deep{depth}.json"
        path.write_text('{"a":' * depth + '"x"' + "}" * depth)
        meta, problem = read_sidecar(str(path))
        assert meta == {} and problem, (depth, problem)  # rejected with a reason, never a crash


def test_deeply_nested_sidecar_does_not_crash_the_build(tmp_path):
    d = _small_dump(tmp_path / "dump", 3)
    (d / "deep.jpg").write_bytes(_jpeg(77))
    (d / "deep.json").write_text('{"label": "a", "x":' + '{"a":' * 700 + "1" + "}" * 700 + "}")
    result = cli(
        "build-tfrecords",
        str(d),
        "--out",
        str(tmp_path / "out"),
        "--label-field",
        "label",
        "--workers",
        "1",
        "--no-stats",
        "--val-fraction",
        "0",
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-500:]
    acc = json.loads((tmp_path / "out" / "dataset.json").read_text())["accounting"]
    assert acc["balanced"] and acc["inputs_found"] == 4 and acc["rejects_by_reason"] == {"bad_sidecar": 1}


_IMAGE_KINDS = ["jpeg", "png", "garbage", "empty", "tiny", "none"]
_entry = st.tuples(
    st.sampled_from(["a", "b", "c", "d", "e", "img 1", "Zé", "x.y"]),
    st.sampled_from(_IMAGE_KINDS),
    st.sampled_from([".jpg", ".JPG", ".jpeg", ".png"]),
    st.one_of(
        st.none(),
        sidecar_objects.map(_sidecar_bytes),
        st.binary(max_size=40),
        st.builds(
            lambda label: _sidecar_bytes({"label": label}), st.sampled_from(["cat", "dog", 3, ["cat"], "cat,dog"])
        ),
    ),
)


def _write_entry(h, d: Path, stem: str, kind: str, ext: str, sidecar: bytes | None, seed: int) -> list[str]:
    written = []
    if kind != "none":
        data = {
            "jpeg": lambda: h.encode(h.image(seed=seed)),
            "png": lambda: h.encode(h.image(seed=seed), "PNG"),
            "garbage": lambda: b"not an image at all",
            "empty": lambda: b"",
            "tiny": lambda: h.encode(h.image(8, 8, seed=seed)),
        }[kind]()
        ext = ".png" if kind == "png" else ext
        (d / f"{stem}{ext}").write_bytes(data)
        written.append(f"{stem}{ext}")
    if sidecar is not None:
        (d / f"{stem}.json").write_bytes(sidecar)
    return written


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(_entry, min_size=1, max_size=6), multi=st.booleans())
def test_every_input_is_written_or_rejected_with_a_reason(h, tf, entries, multi):
    from pipecheck.pipeline.build import BuildOptions, build

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "dump"
        d.mkdir()
        images: set[str] = set()
        for i, (stem, kind, ext, sidecar) in enumerate(entries):
            images.update(_write_entry(h, d, stem, kind, ext, sidecar, i))
        image_stems = {os.path.splitext(p)[0] for p in images}
        orphans = {p.name for p in d.glob("*.json") if p.stem not in image_stems}
        opts = BuildOptions(
            dump=str(d),
            out=str(Path(tmp) / "out"),
            workers=1,
            stats=False,
            **({"multi_label_field": "label", "label_sep": ","} if multi else {"label_field": "label"}),
        )
        result = build(opts)
        acc = result.accounting
        assert acc["inputs_found"] == len(images) + len(orphans)
        assert acc["written"] + acc["rejected"] == acc["inputs_found"] and acc["balanced"]
        lines = (Path(result.out_dir) / "rejects.jsonl").read_text().splitlines()
        rejects = [json.loads(line) for line in lines]
        paths = [r["path"] for r in rejects]
        assert len(paths) == len(set(paths)) == acc["rejected"]
        assert all(r["reason"] in REASONS for r in rejects)
        sources = []
        for name in os.listdir(result.out_dir):
            if name.endswith(".tfrecord"):
                for raw in spec.iter_records(str(Path(result.out_dir) / name)):
                    feats = tf.train.Example.FromString(raw).features.feature
                    sources.append(feats["image/source"].bytes_list.value[0].decode())
        assert len(sources) == acc["written"]
        assert set(sources).isdisjoint(paths)
        assert set(sources) | set(paths) == images | orphans
