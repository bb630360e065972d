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
