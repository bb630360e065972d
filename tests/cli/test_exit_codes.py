"""Exit codes CI can trust: 1 means findings and nothing else. A crash inside pipecheck exits 3 with
one line (no traceback), Ctrl-C exits 130, and PIPECHECK_DEBUG=1 lets the traceback through.

The failures are injected into a real command (``pipecheck checks``) by replacing the registry query
it calls with one that raises, the way a bug in any validator would surface.
"""

from __future__ import annotations

import pytest


def _raiser(exc):
    def boom(*_a, **_k):
        raise exc

    return boom


def test_an_internal_error_exits_3_with_one_line(pipecheck_cli, monkeypatch):
    monkeypatch.delenv("PIPECHECK_DEBUG", raising=False)
    monkeypatch.setattr("pipecheck.validators.registry.all_checks", _raiser(ZeroDivisionError("division by zero")))
    result = pipecheck_cli("checks")
    assert result.exit_code == 3
    assert "internal error: ZeroDivisionError: division by zero" in result.stderr
    assert "please report" in result.stderr and "Traceback" not in result.output + result.stderr


def test_ctrl_c_exits_130(pipecheck_cli, monkeypatch):
    monkeypatch.setattr("pipecheck.validators.registry.all_checks", _raiser(KeyboardInterrupt()))
    result = pipecheck_cli("checks")
    assert result.exit_code == 130 and "interrupted" in result.stderr


def test_debug_shows_the_traceback(pipecheck_cli, monkeypatch):
    monkeypatch.setenv("PIPECHECK_DEBUG", "1")
    monkeypatch.setattr("pipecheck.validators.registry.all_checks", _raiser(ZeroDivisionError("x")))
    result = pipecheck_cli("checks")
    assert result.exit_code != 0 and isinstance(result.exception, ZeroDivisionError)


@pytest.mark.parametrize("args", [["validate"], ["verify", "/nonexistent/pipecheck-build"]])
def test_input_errors_still_exit_2(pipecheck_cli, args):
    result = pipecheck_cli(*args)
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.parametrize("command", [["validate", "--label-field", "species"], ["split", "--label-field", "species"]])
def test_a_table_with_a_header_and_no_rows_is_a_one_line_error(pipecheck_cli, tmp_path, command):
    table = tmp_path / "labels.csv"
    table.write_text("path,species,split\n")
    extra = ["--out", str(tmp_path / "new.csv")] if command[0] == "split" else []
    result = pipecheck_cli(command[0], "--labels", str(table), *command[1:], *extra)
    assert result.exit_code == 2, result.output
    assert "header and no rows" in result.stderr and str(table) in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_a_manifest_path_holding_nul_is_a_one_line_error(pipecheck_cli, tmp_path):
    result = pipecheck_cli(
        "build-tfrecords",
        str(tmp_path),
        "--out",
        str(tmp_path / "out"),
        "--label-field",
        "species",
        "--manifest",
        "labels\x00.csv",
    )
    assert result.exit_code == 2, result.output
    assert "NUL" in result.stderr and "Traceback" not in result.output + result.stderr


def test_a_build_whose_every_input_is_rejected_reports_instead_of_crashing(pipecheck_cli, tmp_path):
    # Found by the fuzz contract test: one empty sidecar and nothing else gives a build with no splits,
    # whose report must still be written (exit 0 or 1), never an internal error (exit 3).
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "0.json").write_bytes(b"")
    out = tmp_path / "out"
    result = pipecheck_cli(
        "build-tfrecords",
        dump,
        "--out",
        out,
        "--label-field",
        "label",
        "--split-field",
        "split",
        "--workers",
        "1",
        "--no-stats",
    )
    assert result.exit_code in (0, 1), result.output + result.stderr
    assert "internal error" not in result.stderr and "orphan_sidecar" in result.output
