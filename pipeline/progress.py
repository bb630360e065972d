"""Progress of long work, as the lower floors report it: a tiny protocol, never a renderer.

The data floor (a build's shards) and the judgement floor (validate's passes, train-check's steps)
call a :class:`Progress` they were handed; the face (``pipecheck/progress.py``) decides whether that
draws a bar on a terminal, prints plain lines into a CI log, or does nothing. Nothing here prints.

A unit of work is ``start(total, what, unit)``, any number of ``advance(n)``, then ``finish()``
when it completed. Work that fails simply stops advancing: the face closes what was left open, so
an error stays the one line the user sees.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    """Receives progress of one unit of work at a time."""

    def start(self, total: int, what: str, unit: str) -> None:
        """A unit of work begins: ``total`` ``unit`` (images, batches, steps) to do, ``what`` names it."""

    def advance(self, n: int = 1) -> None:
        """``n`` more of them are done."""

    def finish(self) -> None:
        """The unit of work completed (fewer than ``total`` is fine: the source ran out early)."""


class NoProgress:
    """Progress nobody watches."""

    def start(self, total: int, what: str, unit: str) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


NO_PROGRESS = NoProgress()


def progress_or_none(progress: Any) -> Progress:
    """``progress`` as a :class:`Progress`: None or False mean nobody watches.

    Raises:
        TypeError: Anything else that is not a Progress (``True`` included: this floor draws nothing;
            the face turns a flag into a renderer, see ``pipecheck.progress``).
    """
    if progress is None or progress is False:
        return NO_PROGRESS
    if not isinstance(progress, Progress):
        raise TypeError(
            f"progress must be a Progress (start/advance/finish) or None, not {progress!r}; "
            "pipecheck.progress.reporting() makes one from a flag"
        )
    return progress


def counted(items: Iterable[Any], progress: Progress) -> Iterator[Any]:
    """``items`` unchanged, advancing ``progress`` by one as each is made (the caller starts and
    finishes the unit of work). Holds no item while the next one is made.
    """
    for item in items:
        progress.advance(1)
        yield item
        del item  # a batch may be large: let it go before the next is pulled
