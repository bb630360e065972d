"""The build's worker processes do not re-run the caller's main script."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys
    # Top-level code, as in a training script that imports TensorFlow here: it must run once, in
    # this process, not again in every worker of the build.
    with open(sys.argv[3], "a") as fh:
        fh.write(f"{os.getpid()}\\n")

    from pipecheck.pipeline.build import BuildOptions, build


    def main():
        result = build(BuildOptions(dump=sys.argv[1], out=sys.argv[2], label_field="species",
                                    val_fraction=0.2, workers=2, stats=False))
        print("written", result.accounting["written"])


    if __name__ == "__main__":
        main()
""")


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the no-main launcher is CPython 3.11's")
def test_forkserver_workers_do_not_import_the_main_script(mini_dump, tmp_path):
    script, marks = tmp_path / "train.py", tmp_path / "imports.txt"
    script.write_text(SCRIPT)
    env = dict(os.environ, PIPECHECK_MP_START="forkserver")
    done = subprocess.run(
        [sys.executable, str(script), str(mini_dump), str(tmp_path / "out"), str(marks)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "written 36" in done.stdout
    pids = marks.read_text().split()
    assert len(pids) == 1, f"the main script ran in {len(pids) - 1} worker(s) too"


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the no-main launcher is CPython 3.11's")
def test_build_pool_uses_the_no_main_context_only_for_forkserver(monkeypatch):
    from pipecheck.pipeline import workers

    monkeypatch.setenv("PIPECHECK_MP_START", "forkserver")
    assert isinstance(workers._pool_context(), workers._ForkServerNoMainContext)
    assert workers._pool_context().get_start_method() == "forkserver"
    monkeypatch.setenv("PIPECHECK_MP_START", "fork")
    assert workers._pool_context().get_start_method() == "fork"


HEAP = textwrap.dedent("""
    import io, resource, sys
    from PIL import Image
    from skimage import data
    from pipecheck.pipeline import quality
    from pipecheck.pipeline.images import ImageOptions, check_image, finish_quality
    from pipecheck.pipeline.workers import _worker_init

    # numpy's measures (the path where the compiled kernel did not build): their batch arrays
    # of a few MB are what glibc gave back and mapped again (the kernel allocates next to nothing).
    quality._kernel = None
    if sys.argv[1] == "worker":
        _worker_init()  # what every build worker runs first
    photo = Image.fromarray(data.astronaut())
    jpegs = []
    for side in range(300, 1000, 7):  # a photo at 100 sizes, as in a dump
        buf = io.BytesIO()
        photo.resize((side, side * 3 // 4)).save(buf, "JPEG", quality=90)
        jpegs.append(buf.getvalue())

    def check_all():  # as a shard writer does: 32 images checked, then measured
        for start in range(0, len(jpegs), 32):
            batch = jpegs[start : start + 32]
            finish_quality([check_image(j, "a.jpg", ImageOptions(), defer_quality=True) for j in batch])

    check_all()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(2):
        check_all()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap")
def test_worker_keeps_its_heap_between_images():
    """A worker checks image after image: with glibc's default thresholds each image's buffers were
    mapped and zero-filled again (thousands of page faults for 100 images, 13-15% of a build's CPU);
    a build worker keeps them in its heap.
    """
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    faults = {
        mode: int(subprocess.run([sys.executable, "-c", HEAP, mode], capture_output=True, text=True, check=True).stdout)
        for mode in ("worker", "default")
    }
    assert faults["default"] > 1000, faults  # the problem, in this very process layout
    assert faults["worker"] < faults["default"] / 20, faults
