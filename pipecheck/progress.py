"""Progress of long work on stderr: a rich bar on a terminal, plain lines in a CI log.

The lower floors report through ``pipecheck.pipeline.progress.Progress`` (start, advance, finish);
this module renders it. Everything goes to stderr: stdout carries the report (``--format json``).

``--progress/--no-progress`` (default: auto):

- stderr is a terminal: a transient rich bar (``--no-progress``: none).
- otherwise, with ``--progress`` or where the environment variable ``CI`` is set (GitHub Actions,
  GitLab CI and most CI services set ``CI=true``): plain lines such as
  ``pipecheck build-tfrecords: checking + writing 1,200/3,000 images (40%), 12 s elapsed``, at most one
  per 10% of the work and per ``PIPECHECK_PROGRESS_INTERVAL`` seconds (default 10), whichever is rarer,
  one at least every 5 minutes while work advances (CI watchdogs kill silent jobs), and a final 100%
  line. Work that ends within the interval prints no line unless ``--progress`` asked for one, so a
  quick command's log stays as it was.
- otherwise (a pipe or file, no CI): nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Callable, Iterator, TextIO

from pipecheck.pipeline.errors import InputError
from pipecheck.pipeline.progress import NO_PROGRESS, Progress

INTERVAL_ENV = "PIPECHECK_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 10.0  # seconds between two plain lines, at least
STEP = 0.10  # share of the work between two plain lines, at least
HEARTBEAT = 300.0  # seconds: a line while work advances, even short of STEP


def ci_environment(env: dict | None = None) -> bool:
    """True where the ``CI`` variable says a CI service runs us (``CI=true``; ``false``/``0`` do not)."""
    value = (os.environ if env is None else env).get("CI", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def interval_from_env() -> float:
    """Seconds between plain lines: ``PIPECHECK_PROGRESS_INTERVAL`` or 10.

    Raises:
        InputError: The variable is set to something that is not a number of seconds >= 0.
    """
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise InputError(
            f"{INTERVAL_ENV}={raw!r}: give the seconds between progress lines, e.g. 10 (0: every 10%), or unset it"
        )
    return value


def mode(flag: bool | None, *, tty: bool, ci: bool, dumb: bool = False) -> str:
    """``bar``, ``lines`` or ``off`` for ``--progress`` (True), ``--no-progress`` (False) or neither (None)."""
    if flag is False:
        return "off"
    if tty and not dumb:
        return "bar"
    return "lines" if flag or ci else "off"


def make(command: str, flag: bool | None) -> Progress:
    """The renderer for ``pipecheck COMMAND`` and its ``--progress`` flag, judged on this process's stderr."""
    stream = sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    chosen = mode(flag, tty=tty, ci=ci_environment(), dumb=os.environ.get("TERM", "") in ("dumb", "unknown"))
    if chosen == "bar":
        return RichBar(f"pipecheck {command}")
    if chosen == "lines":
        return PlainLines(f"pipecheck {command}", interval=interval_from_env(), quiet_quick=flag is None)
    return NO_PROGRESS


@contextlib.contextmanager
def reporting(command: str, flag: bool | None) -> Iterator[Progress]:
    """Progress for one command, closed silently on the way out (an error, Ctrl-C) before the report.

    Used as ``with reporting("validate", progress) as p: run_validate(opts, progress=p)``.
    """
    renderer = make(command, flag)
    try:
        yield renderer
    finally:
        close = getattr(renderer, "close", None)
        if close is not None:
            close()


def elapsed_text(seconds: float) -> str:
    """``12 s``, ``3 min 05 s``, ``1 h 02 min``."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class PlainLines:
    """Progress as plain lines on a stream (stderr), at a bounded rate: see the module docstring.

    Args:
        prefix: Starts every line (``pipecheck validate``).
        stream: Where lines go; default ``sys.stderr`` as it is at each line.
        interval: Seconds between two lines of one unit of work, at least.
        quiet_quick: Print no final line for work that ended within ``interval`` having printed nothing.
        clock: Monotonic seconds (a test passes its own).
    """

    def __init__(
        self,
        prefix: str,
        stream: TextIO | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        quiet_quick: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prefix, self.stream, self.interval, self.quiet_quick, self.clock = (
            prefix,
            stream,
            interval,
            quiet_quick,
            clock,
        )
        self._open = False

    def start(self, total: int, what: str, unit: str) -> None:
        self.total, self.what, self.unit = max(0, int(total)), what, unit
        self.done = self._said_done = 0
        self.started = self._said_at = self.clock()
        self._said = False
        self._open = True

    def advance(self, n: int = 1) -> None:
        if not self._open:
            return
        self.done += n
        if self.done >= self.total:
            return  # the 100% line is finish()'s
        now = self.clock()
        since = now - self._said_at
        if (self.done - self._said_done >= STEP * self.total and since >= self.interval) or since >= max(
            HEARTBEAT, self.interval
        ):
            self._say(now, self.done, self.total)

    def finish(self) -> None:
        if not self._open:
            return
        self._open = False
        now = self.clock()
        if self.quiet_quick and not self._said and now - self.started < self.interval:
            return
        # Work that ran out early (a finite --source) completed all there was: that is its 100%.
        self._say(now, self.done, self.done)

    def close(self) -> None:
        """Unfinished work (an error, Ctrl-C) ends without a line: the error is the one line that matters."""
        self._open = False

    def _say(self, now: float, done: int, total: int) -> None:
        pct = 100 if total <= 0 else min(100, done * 100 // total)
        line = (
            f"{self.prefix}: {self.what} {done:,}/{total:,} {self.unit} ({pct}%), "
            f"{elapsed_text(now - self.started)} elapsed"
        )
        stream = self.stream or sys.stderr
        print(line, file=stream, flush=True)
        self._said, self._said_at, self._said_done = True, now, done


class RichBar:
    """Progress as a transient rich bar on stderr (a terminal): description, bar, M/N unit, percent, times."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._bar = None
        self._job = None

    def start(self, total: int, what: str, unit: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self.close()
        # stderr: stdout carries the report. Prints to stdout go above the bar only when stdout is this
        # terminal too; piped, stdout keeps exactly what was written to it.
        self._bar = Bar(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
            redirect_stdout=_isatty(sys.stdout),
            redirect_stderr=True,
        )
        self._bar.start()
        self._job = self._bar.add_task(f"{self.prefix}: {what}", total=max(0, int(total)), unit=unit)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._job, n)

    def finish(self) -> None:
        if self._bar is not None:  # work that ran out early completed all there was: its 100%
            self._bar.update(self._job, total=self._bar.tasks[0].completed, refresh=True)
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
