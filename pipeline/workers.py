"""The build's worker processes: how they are started, paused collection in the driver, stopping.

Workers run ``shards.write_shard`` and ``precheck.precheck``, nothing else: they import TensorFlow
only to reach ``scheme://`` paths, and never need the caller's ``__main__`` module (so nothing
defined there can be sent to them).
"""

from __future__ import annotations

import contextlib
import gc
import io
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import context, popen_forkserver, reduction, spawn, util

# What the fork server imports once, so each worker it forks starts with the shard writer loaded.
_PRELOAD = ["pipecheck.pipeline.shards"]


@contextlib.contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector in the build driver while it plans or waits for workers.

    Planning allocates a few objects per image (items, labels, tasks) and no reference cycles, so
    refcounting frees everything; but the allocations keep triggering collections, and every
    full collection walks every object in the process: with TensorFlow imported (a notebook, the
    benchmarks) that is ~375,000 objects and ~0.2 s a time, which made planning 5000 images take
    0.16 to 0.46 s. Collections resume (if they were on) when the step ends. Not used around the
    statistics step: TFDV, Beam and pandas do leave cycles behind, and memory would grow.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Descriptors the driver holds that its forked workers must not keep open: the --out lock (see
# ``staging.out_lock``). A forked child shares the driver's lock; if the driver were killed alone,
# orphaned workers would keep "its" build locked while nobody runs it.
_DRIVER_ONLY_FDS: set[int] = set()


@contextlib.contextmanager
def keep_from_workers(fd: int):
    """Close ``fd`` in every worker forked while the block runs (the driver keeps it)."""
    _DRIVER_ONLY_FDS.add(fd)
    try:
        yield
    finally:
        _DRIVER_ONLY_FDS.discard(fd)


def new_pool(workers: int) -> ProcessPoolExecutor:
    """The build's worker processes (they start when the pool is first given work)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=_worker_init)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop now (Ctrl-C, an error): cancel queued work and kill running workers; their temp files
    are removed on resume, completed shards stay for --resume.
    """
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _worker_init() -> None:
    # Closing a forked copy leaves the driver's lock held (flock belongs to the open file, which
    # the driver still has open); only LOCK_UN would drop it, and a worker never calls that.
    for fd in list(_DRIVER_ONLY_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
    _DRIVER_ONLY_FDS.clear()
    # The parent handles Ctrl-C and stops the pool; workers ignoring SIGINT avoids a storm of
    # KeyboardInterrupt tracebacks from every process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A forked worker inherits the driver's paused collector (gc_paused); a worker runs for the
    # whole build and must collect whatever cycles image libraries leave behind.
    gc.enable()
    keep_heap()


# glibc's mallopt parameters, and the values a worker sets (see keep_heap).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_BYTES, _MMAP_BYTES = 64 << 20, 32 << 20


def keep_heap() -> None:
    """Keep freed memory in the heap of a process that checks images (a build worker, the CLI's own
    process) instead of giving it back to the system after every image.

    A worker allocates and frees the same few buffers for every image (the decoded pixels, the
    quality batch's arrays). glibc returns freed memory at the top of the heap once it exceeds its
    trim threshold and serves large blocks from fresh mappings, so each image's buffers were mapped
    and zero-filled again, page by page: 20-50 page faults an image, 13-15% of a build's CPU on
    256-900 px photos. Fixed thresholds (blocks under 32 MB from the heap, up to 64 MB of it kept
    free) stop that; a worker's memory stays within its largest image's working set plus 64 MB. Not
    glibc (macOS, musl): nothing to do.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _MMAP_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _TRIM_BYTES)


def mp_context():
    """Fork when TensorFlow is not loaded (fast start, no ``__main__`` guard needed); forkserver when
    it is, since forking a process with TensorFlow's threads running can deadlock the child.

    The fork server is a clean process, started once per Python process with the shard writer
    already imported, that forks the workers: a notebook or script that imported TensorFlow pays
    the ~0.2 s interpreter start once instead of per worker and per build (``spawn`` pays it every
    time). ``PIPECHECK_MP_START`` overrides the choice; with ``spawn`` (or where there is no fork
    server) every worker imports the caller's main script again, as multiprocessing always does,
    so a script needs the usual ``if __name__ == "__main__":`` guard there.
    """
    method = os.environ.get("PIPECHECK_MP_START")
    available = multiprocessing.get_all_start_methods()
    if not method:
        if "tensorflow" not in sys.modules and "fork" in available:
            method = "fork"
        else:
            method = "forkserver" if "forkserver" in available else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def _pool_context():
    """``mp_context()``, except that forkserver workers do not re-run the caller's ``__main__``.

    multiprocessing starts every forkserver or spawn child by importing the parent's main script
    (as ``__mp_main__``), so that functions defined there can be unpickled. The build's workers
    only run pipecheck's own functions, and that import is pure cost: a training script that does
    ``import tensorflow`` at the top made each worker of each build import TensorFlow too (~1.5 s
    of CPU and a few hundred MB per worker; a 5000-image build took 6.2 s instead of 3.0 s), and
    ran any other top-level code of the script once more per worker.
    """
    ctx = mp_context()
    # _NoMainPopen copies 3.11's launcher; another Python keeps the stock one (and its re-import).
    if ctx.get_start_method() == "forkserver" and sys.version_info[:2] == (3, 11):
        return _ForkServerNoMainContext()
    return ctx


class _NoMainPopen(popen_forkserver.Popen):
    """A forkserver child whose preparation data names no main module to import.

    ``_launch`` is CPython 3.11's own (``multiprocessing/popen_forkserver.py``) with one change:
    the ``init_main_from_*`` entries are left out of the preparation data. Python is pinned to 3.11
    (pyproject), and ``tests/pipeline/test_workers.py`` fails if a worker imports the main script.
    """

    def _launch(self, process_obj):
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, w = popen_forkserver.forkserver.connect_to_new_process(self._fds)
        # A duplicate of the data pipe's write end is the child's sentinel of this process.
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = popen_forkserver.forkserver.read_signed(self.sentinel)


class _NoMainProcess(context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj):
        return _NoMainPopen(process_obj)


class _ForkServerNoMainContext(context.ForkServerContext):
    Process = _NoMainProcess
