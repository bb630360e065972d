"""Progress of long work (issue 17): a rich bar on a terminal, plain lines in CI logs, never on stdout.

The commands run as real subprocesses on the committed sample: stderr a pipe (a CI log) or a
pseudo-terminal (a user's terminal), stdout a pipe that must hold the JSON report and nothing else.
``PIPECHECK_PROGRESS_INTERVAL=0`` lets the tiny sample, done in a second, print its per-10% lines.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from pipecheck.progress import PlainLines, mode

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "dump"
BUILD = ["build-tfrecords", str(SAMPLE), "--label-field", "species", "--no-stats", "--workers", "1", "--format", "json"]
LINE = re.compile(
    r"^pipecheck (?P<cmd>[\w-]+): (?P<what>[a-z +]+) (?P<done>[\d,]+)/(?P<total>[\d,]+) (?P<unit>\w+) "
    r"\((?P<pct>\d+)%\), (?P<elapsed>\d+ s|\d+ min \d\d s|\d+ h \d\d min) elapsed$"
)
# Variables that change how a child process decides on progress or colour: each test sets its own.
_ENV_DROP = (
    "CI",
    "PIPECHECK_PROGRESS_INTERVAL",
    "FORCE_COLOR",
    "NO_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "COLUMNS",
    "LINES",
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO), **extra)
    return env


def run_piped(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``pipecheck ARGS`` with stdout and stderr both pipes (not terminals), as in a CI job."""
    return subprocess.run(
        [sys.executable, "-m", "pipecheck", *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        cwd=REPO,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def run_on_terminal(*args: str, **env: str) -> tuple[int, str, str]:
    """``pipecheck ARGS`` with stderr a pseudo-terminal (120 columns) and stdout a pipe: (rc, stdout, terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipecheck", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=_env(TERM="xterm-256color", **env),
        cwd=REPO,
    )
    os.close(slave)
    chunks: list[bytes] = []

    def pump() -> None:
        while True:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        reader.join(30)
        os.close(master)
    return proc.returncode, out.decode(), b"".join(chunks).decode("utf-8", "replace")


def progress_lines(stderr: str) -> list[re.Match]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    matches = [LINE.match(line) for line in lines]
    return [m for m in matches if m]


def _ints(m: re.Match) -> tuple[int, int, int]:
    return int(m["done"].replace(",", "")), int(m["total"].replace(",", "")), int(m["pct"])


# --------------------------------------------------------------------------- the plain-line renderer
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(buf: io.StringIO) -> list[re.Match]:
    got = buf.getvalue().splitlines()
    matches = [LINE.match(line) for line in got]
    assert all(matches), got
    return matches  # type: ignore[return-value]


def test_plain_lines_come_every_10_percent_and_10_s_whichever_is_rarer_and_end_at_100():
    # 3,000 images, 10 per second: 300 s. Every 10% (30 s) is rarer than every 10 s: 9 lines + the final one.
    clock, buf = Clock(), io.StringIO()
    p = PlainLines("pipecheck build-tfrecords", buf, clock=clock)
    p.start(3000, "checking + writing", "images")
    for _ in range(300):
        clock.now += 1
        p.advance(10)
    p.finish()
    lines = _lines(buf)
    assert 2 <= len(lines) <= 11, buf.getvalue()
    assert (
        lines[-1].group(0)
        == "pipecheck build-tfrecords: checking + writing 3,000/3,000 images (100%), 5 min 00 s elapsed"
    )
    done = [_ints(m)[0] for m in lines]
    assert all(b - a >= 300 for a, b in zip(done, done[1:])), done
    assert (
        lines[3].group(0)
        == "pipecheck build-tfrecords: checking + writing 1,200/3,000 images (40%), 2 min 00 s elapsed"
    )

    # 3,000 images in 20 s: 10% every 0.67 s, but at most one line per 10 s.
    clock, buf = Clock(), io.StringIO()
    p = PlainLines("pipecheck validate", buf, clock=clock)
    p.start(3000, "sampling", "batches")
    for _ in range(3000):
        clock.now += 20 / 3000
        p.advance()
    p.finish()
    lines = _lines(buf)
    assert [_ints(m)[2] for m in lines][-1] == 100 and len(lines) <= 3, buf.getvalue()


def test_plain_lines_keep_a_slow_ci_job_alive_and_say_nothing_for_failed_or_quick_work():
    # 100 steps at 1 per minute: 10% takes 10 min; a line at least every 5 min keeps CI watchdogs calm.
    clock, buf = Clock(), io.StringIO()
    p = PlainLines("pipecheck train-check", buf, clock=clock)
    p.start(100, "training", "steps")
    for _ in range(100):
        clock.now += 60
        p.advance()
    p.finish()
    lines = _lines(buf)
    assert 15 <= len(lines) <= 21 and _ints(lines[-1]) == (100, 100, 100), buf.getvalue()

    # Work that fails mid-way (the face closes it): no line, the error stays the one line.
    clock, buf = Clock(), io.StringIO()
    p = PlainLines("pipecheck validate", buf, clock=clock, interval=0)
    p.start(4, "checking the build", "passes")
    p.close()
    assert buf.getvalue() == ""

    # Quick work in automatic CI mode leaves the log as it was; asked for (--progress), it ends with 100%.
    for quiet, expected in (
        (True, ""),
        (False, "pipecheck build-tfrecords: checking + writing 8/8 images (100%), 2 s elapsed\n"),
    ):
        clock, buf = Clock(), io.StringIO()
        p = PlainLines("pipecheck build-tfrecords", buf, clock=clock, quiet_quick=quiet)
        p.start(8, "checking + writing", "images")
        clock.now += 2
        p.advance(8)
        p.finish()
        assert buf.getvalue() == expected


def test_mode_bar_on_a_terminal_lines_in_ci_or_when_asked_else_nothing():
    assert mode(None, tty=True, ci=False) == "bar" and mode(True, tty=True, ci=True) == "bar"
    assert mode(None, tty=False, ci=True) == "lines" and mode(True, tty=False, ci=False) == "lines"
    assert mode(None, tty=False, ci=False) == "off"
    assert mode(False, tty=True, ci=True) == "off" and mode(False, tty=False, ci=True) == "off"
    assert mode(None, tty=True, ci=True, dumb=True) == "lines"


# --------------------------------------------------------------------------- the commands, in a CI log
def test_build_prints_bounded_plain_lines_on_stderr_in_ci_and_pure_json_on_stdout(tmp_path):
    result = run_piped(*BUILD, "--out", str(tmp_path / "out"), CI="true", PIPECHECK_PROGRESS_INTERVAL="0")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)  # nothing but the report on stdout
    assert report["command"] == "build-tfrecords"
    lines = progress_lines(result.stderr)
    assert lines and len(lines) <= 11, result.stderr
    assert len(lines) == len(result.stderr.strip().splitlines()), result.stderr  # nothing else on stderr
    assert {m["cmd"] for m in lines} == {"build-tfrecords"} and {m["unit"] for m in lines} == {"images"}
    done, total, pct = _ints(lines[-1])
    written = sum(report["summary"]["splits"].values())  # images checked while writing, less those rejected
    assert pct == 100 and done == total >= written > 0, (lines[-1].group(0), report["summary"])


def test_build_is_silent_on_a_pipe_without_ci_with_no_progress_and_for_quick_work_in_ci(tmp_path):
    for i, (args, env) in enumerate(
        (
            ([], {}),  # a pipe, no CI: as before
            (["--no-progress"], {"CI": "true", "PIPECHECK_PROGRESS_INTERVAL": "0"}),
            ([], {"CI": "true"}),  # done within the 10 s interval: no line
            ([], {"CI": "false", "PIPECHECK_PROGRESS_INTERVAL": "0"}),
        )
    ):
        result = run_piped(*BUILD, "--out", str(tmp_path / f"out{i}"), *args, **env)
        assert result.returncode in (0, 1) and result.stderr == "", (args, env, result.stderr)
        json.loads(result.stdout)


def test_bad_progress_interval_is_a_one_line_error(tmp_path):
    result = run_piped(*BUILD, "--out", str(tmp_path / "out"), CI="true", PIPECHECK_PROGRESS_INTERVAL="soon")
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("pipecheck: error: PIPECHECK_PROGRESS_INTERVAL='soon'") and "e.g. 10" in line
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("progress") / "out"
    result = run_piped(*BUILD, "--out", str(out), "--no-progress")
    assert result.returncode in (0, 1), result.stderr
    return str(out)


def test_validate_data_reports_its_passes_and_sampled_batches_in_ci(sample_build):
    result = run_piped(
        "validate",
        "--data",
        sample_build,
        "--backbone",
        "resnet50",
        "--image-size",
        "32",
        "--batches",
        "3",
        "--format",
        "json",
        CI="1",
        PIPECHECK_PROGRESS_INTERVAL="0",
    )
    assert result.returncode in (0, 1), result.stderr
    assert json.loads(result.stdout)["command"] == "validate"
    lines = progress_lines(result.stderr)
    finals = {m["what"]: _ints(m) for m in lines if m["pct"] == "100"}
    assert finals == {"checking the build": (5, 5, 100), "sampling": (3, 3, 100)}, result.stderr
    assert len(lines) <= 2 * 11


def test_gate_reports_validate_and_the_training_steps_in_ci(sample_build):
    result = run_piped(
        "gate",
        "--data",
        sample_build,
        "--backbone",
        "resnet50",
        "--image-size",
        "32",
        "--batches",
        "2",
        "--steps",
        "8",
        "--model",
        "samples.models:build",
        "--format",
        "json",
        CI="true",
        PIPECHECK_PROGRESS_INTERVAL="0",
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    lines = progress_lines(result.stderr)
    finals = {m["what"]: _ints(m) for m in lines if m["pct"] == "100"}
    steps = report["summary"]["train-check"]["steps"]
    assert finals == {"checking the build": (5, 5, 100), "sampling": (2, 2, 100), "training": (steps, steps, 100)}, (
        result.stderr
    )
    assert {m["cmd"] for m in lines} == {"gate"}
    training = [m for m in lines if m["what"] == "training"]
    assert 1 <= len(training) <= 11 and [_ints(m)[0] for m in training] == sorted(_ints(m)[0] for m in training)


# --------------------------------------------------------------------------- the commands, on a terminal
def test_build_draws_a_rich_bar_on_a_terminal_and_keeps_stdout_pure(tmp_path):
    rc, out, terminal = run_on_terminal(*BUILD, "--out", str(tmp_path / "out"))
    assert rc in (0, 1), terminal
    assert json.loads(out)["command"] == "build-tfrecords"
    assert "pipecheck build-tfrecords: checking + writing" in terminal
    assert re.search(r"255/255\S* images", terminal) and "100%" in terminal, terminal[-2000:]
    assert "\x1b[?25h" in terminal  # the cursor rich hid is shown again

    rc, out, terminal = run_on_terminal(*BUILD, "--out", str(tmp_path / "quiet"), "--no-progress")
    assert rc in (0, 1) and terminal == "" and json.loads(out)


def test_train_check_draws_its_steps_on_a_terminal_and_no_keras_bar(sample_build):
    rc, out, terminal = run_on_terminal(
        "train-check",
        "--data",
        sample_build,
        "--backbone",
        "resnet50",
        "--image-size",
        "32",
        "--steps",
        "8",
        "--model",
        "samples.models:build",
        "--format",
        "json",
    )
    assert rc in (0, 1), terminal[-2000:]
    steps = json.loads(out)["summary"]["steps"]
    assert "pipecheck train-check: training" in terminal
    assert re.search(rf"{steps}/{steps}\S* steps", terminal), terminal[-2000:]
    assert "ms/step" not in terminal and "Epoch 1/" not in terminal  # Keras' own bar stays off
