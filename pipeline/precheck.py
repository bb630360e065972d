"""Checking images on the worker processes while the driver is still planning the build.

Planning (walking the dump, reading every sidecar, the stratified split) runs on one core before
any image can be assigned to a shard, and the other cores would wait for it: ~0.16 s for 5000
images, 6% of a 2-core build. An image's check (decode, hashes, repairs) does not depend on the
plan, so :class:`Precheck` starts the checks as soon as the walk has found the images, and the
shard writers reuse each result whose file still has the same bytes (its sha256, which a kept
image's record needs anyway). Output is identical with or without it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from pipecheck.pipeline import fsio
from pipecheck.pipeline.images import Checked, ImageOptions, Rejected, check_image, finish_quality
from pipecheck.pipeline.inputs import read_input


def precheck(root: str, rels: list[str], options: ImageOptions) -> list[tuple[str, str, Checked | Rejected]]:
    """Worker: check images before their shard is known (see :class:`Precheck`).

    Returns ``(rel, sha256 of the file, result)`` for every image checked: stored as they are with
    ``encoded=b""`` (the writer has the file's bytes), re-encoded ones (downscaled, repaired) with
    their new bytes, which the driver keeps up to :attr:`Precheck.BUDGET`. Files that are not
    regular files (a FIFO would block) or cannot be read here are left out: the shard writer meets
    them again and says why.
    """
    out = []
    for rel in rels:
        path = fsio.join(root, rel)
        try:
            data = read_input(path)  # not a regular file (a FIFO would block): the writer rejects it
            checked = check_image(data, rel, options, defer_quality=True)
        except Exception:  # noqa: BLE001 - best effort; write_shard handles and reports it
            continue
        if isinstance(checked, Checked) and checked.encoded is data:
            out.append((rel, checked.sha256, dataclasses.replace(checked, encoded=b"")))
        else:
            out.append((rel, hashlib.sha256(data).hexdigest(), checked))
    done = [item for item in out if isinstance(item[2], Checked)]
    failed = finish_quality([checked for _, _, checked in done])  # the chunk's at once
    if failed:  # left to the writer, which checks them again and says why
        out = [item for item in out if not any(item is done[i] for i in failed)]
    return out


def reuse(pre: tuple[str, Checked | Rejected] | None, data: bytes) -> Checked | Rejected | None:
    """A precheck's result for ``data``, if it was made from these very bytes."""
    if pre is None or hashlib.sha256(data).hexdigest() != pre[0]:
        return None
    result = pre[1]
    if isinstance(result, Checked) and not result.encoded:
        return dataclasses.replace(result, encoded=data)
    return result


class Precheck:
    """Feeds the images to a pool of worker processes in chunks, in order, a few at a time, from
    when the walk has paired them with sidecars until ``stop()`` (the plan is ready).

    The pool is made by ``start()`` (so a small dump, or a build that fails before its walk, never
    starts processes) and handed to the shard writers afterwards (``pool``). ``stop()`` cancels the
    chunks not yet handed to a worker and returns what was checked; ``abort()`` kills the workers.
    """

    CHUNK = 16
    MIN_IMAGES = 512
    # Re-encoded images (every one, with --max-side) come back with their new bytes, held until
    # their shard is written; past this many bytes the precheck stops and the writers do the rest.
    BUDGET = 64 << 20

    def __init__(self, workers: int, root: str, options: ImageOptions):
        self.workers, self._root, self._options = workers, root, options
        self.pool: ProcessPoolExecutor | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._results: dict[str, tuple[str, Checked | Rejected]] = {}
        self._held = 0  # bytes of re-encoded images in _results
        self._full = False  # a re-encoded result did not fit: feeding more would be wasted work

    def start(self, rels: list[str]) -> None:
        """Begin checking ``rels`` (the ``on_images`` hook of ``plan_build``); a small dump is
        planned in milliseconds and not worth starting processes early for.
        """
        if len(rels) < max(1, self.MIN_IMAGES):
            return
        from pipecheck.pipeline.workers import new_pool

        self.pool = new_pool(self.workers)
        chunks = (rels[i : i + self.CHUNK] for i in range(0, len(rels), self.CHUNK))
        # The first chunks are submitted here, on the calling (main) thread, one per worker at
        # least: the pool starts its processes as work is submitted (with fork all at the first
        # submit; with forkserver/spawn one per submit), and starting them from the helper thread
        # while the main thread runs could copy a held lock into a forked child, or race the
        # main thread's own submits to the fork server.
        first = {
            self.pool.submit(precheck, self._root, chunk, self._options)
            for chunk in itertools.islice(chunks, 2 * self.workers)
        }
        self._thread = threading.Thread(target=self._feed, args=(chunks, first), name="pipecheck-precheck", daemon=True)
        self._thread.start()

    def _feed(self, chunks, inflight: set) -> None:
        try:
            while not self._stop.is_set() and not self._full:
                while len(inflight) < 2 * self.workers and (chunk := next(chunks, None)) is not None:
                    inflight.add(self.pool.submit(precheck, self._root, chunk, self._options))
                if not inflight:
                    return
                done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                self._collect(done)
        except Exception:  # noqa: BLE001 - a broken pool is reported when the shards are submitted
            return
        finally:
            for fut in inflight:
                fut.cancel()
            self._collect(f for f in inflight if not f.cancelled())

    def _collect(self, futures) -> None:
        for fut in futures:
            try:
                rows = fut.result()
            except Exception:  # noqa: BLE001 - best effort, see _feed
                continue
            with self._lock:
                for rel, digest, result in rows:
                    size = len(result.encoded) if isinstance(result, Checked) else 0
                    if self._held + size > self.BUDGET:
                        self._full = True
                        continue
                    self._held += size
                    self._results[rel] = (digest, result)

    def stop(self, timeout: float | None = None) -> dict[str, tuple[str, Checked | Rejected]]:
        """Stop checking and return the results by path. Chunks already with a worker are waited
        for up to ``timeout`` seconds (a file on a stalled disk must not hold the build up).
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            results, self._results = self._results, {}  # handed over: the caller decides how long they live
            return results

    def abort(self) -> None:
        """Ctrl-C or an error while planning: stop feeding and kill the workers now."""
        self._stop.set()
        if self.pool is not None:
            from pipecheck.pipeline.workers import stop_pool

            stop_pool(self.pool)
