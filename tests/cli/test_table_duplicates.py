"""A label table that names one column or key twice is refused with one line, never read half-way.

pandas keeps the last of two equal keys in a JSON Lines row and renames a repeated CSV header to
``name.1``: either way one label value is silently dropped or turned into metadata (issue: silent
label drops; a sidecar with a duplicate key is already rejected as ``bad_sidecar``).
"""

from __future__ import annotations

import pytest
from PIL import Image

TABLES = {
    "labels.csv": ("path,label,label\na.jpg,cat,dog\nb.jpg,dog,dog\n", "path,label\na.jpg,cat\nb.jpg,dog\n"),
    "labels.jsonl": (
        '{"path": "a.jpg", "label": "cat"}\n{"path": "b.jpg", "label": "dog", "label": "cat"}\n',
        '{"path": "a.jpg", "label": "cat"}\n{"path": "b.jpg", "label": "dog"}\n',
    ),
}


def _dump(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    for i, name in enumerate(("a.jpg", "b.jpg")):
        Image.new("RGB", (48, 40), (40 * i, 90, 160)).save(dump / name, quality=90)
    return dump


@pytest.mark.parametrize("name", sorted(TABLES))
def test_a_table_naming_a_column_twice_is_a_one_line_error(pipecheck_cli, tmp_path, name):
    dump = _dump(tmp_path)
    table = tmp_path / name
    table.write_text(TABLES[name][0])
    for args in (
        ["build-tfrecords", dump, "--out", tmp_path / "out", "--manifest", table, "--no-stats"],
        ["validate", "--labels", table],
    ):
        result = pipecheck_cli(*args, "--label-field", "label")
        assert result.exit_code == 2, result.output
        assert str(table) in result.stderr and "'label'" in result.stderr
        assert ("line 2" in result.stderr) == name.endswith(".jsonl")
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output + result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_same_table_without_the_duplicate_builds(pipecheck_cli, tmp_path, name):
    dump = _dump(tmp_path)
    table = tmp_path / name
    table.write_text(TABLES[name][1])
    result = pipecheck_cli(
        "build-tfrecords",
        dump,
        "--out",
        tmp_path / "out",
        "--manifest",
        table,
        "--label-field",
        "label",
        "--no-stats",
        "--val-fraction",
        "0",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "dataset.json").is_file()
