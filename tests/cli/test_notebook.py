"""``samples/quickstart.ipynb`` runs top to bottom in a real Jupyter kernel, as a user runs it.

nbclient executes the committed notebook once per session in an ipykernel started from the SAME
interpreter as pytest (a temporary kernel spec whose argv is ``sys.executable``), with the
notebook's folder as the working directory and without the ``TF_CPP_MIN_LOG_LEVEL`` the test
harness sets, since a user's Jupyter has none: TensorFlow start-up noise must be kept out by
pipecheck itself. The tests then read the executed cells' outputs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "samples" / "quickstart.ipynb"
CELL_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after one execution (plus one appended probe cell), and how long it took."""
    root = tmp_path_factory.mktemp("notebook")
    spec_dir = root / "kernels" / "pipecheck-test"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "pipecheck test",
                "language": "python",
            }
        )
    )
    km = AsyncKernelManager(
        kernel_name="pipecheck-test",
        connection_file=str(root / "connection.json"),
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(root / "kernels")]),
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)", metadata={"tags": ["probe"]}))
    # As a user's Jupyter starts it: no TF_CPP_MIN_LOG_LEVEL, and no PYTEST_* (with PYTEST_CURRENT_TEST set,
    # ipykernel stops forwarding what C++ code writes to fd 1/2, which is where TensorFlow's noise goes).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL" and not k.startswith("PYTEST_")}
    env["IPYTHONDIR"] = str(root / "ipython")  # no user profile or history file outside the test's folder
    client = NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT_S, allow_errors=True, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute(env=env)
    return {"nb": nb}


def cell(nb, tag: str):
    (found,) = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    return found


def html(c) -> str:
    return "".join(o["data"]["text/html"] for o in c.outputs if "text/html" in o.get("data", {}))


def stream(c, name: str) -> str:
    return "".join(o["text"] for o in c.outputs if o["output_type"] == "stream" and o["name"] == name)


def test_notebook_is_committed_clean():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert NOTEBOOK.stat().st_size < 20_000


def test_every_cell_runs_in_the_pytest_interpreter_without_error(executed):
    nb = executed["nb"]
    errors = [
        (c.metadata.get("tags"), o.get("ename"), o.get("evalue"))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o["output_type"] == "error"
    ]
    assert errors == []
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    assert stream(cell(nb, "probe"), "stdout").strip() == sys.executable


def test_reports_draw_as_html_with_their_check_ids(executed):
    nb = executed["nb"]
    built = html(cell(nb, "build"))
    assert 'class="pipecheck-report"' in built and "build.rejected" in built and "build.repaired" in built
    assert "too_many_pixels" in built and "PASS" in built
    validated = html(cell(nb, "validate"))
    assert "class_counts.too_few_train" in validated and "PASS" in validated
    buggy = html(cell(nb, "buggy"))
    assert "FAIL" in buggy
    for check in ("generator.yield_after_loop", "generator.same_batch_repeated", "input_range.rescaled_0_1"):
        assert check in buggy


def test_report_attributes_and_a_batch_print_as_expected(executed):
    nb = executed["nb"]
    printed = stream(cell(nb, "buggy-errors"), "stdout")
    assert printed.startswith("ok: False") and "generator.yield_after_loop: " in printed
    assert "preprocess_input" in printed  # the hint for input_range.rescaled_0_1 names the fix
    batch = stream(cell(nb, "load"), "stdout")
    assert "images (8, 224, 224, 3)" in batch and "labels (8, 6)" in batch
    assert "ok: True errors: []" in stream(cell(nb, "train"), "stdout")


def test_nothing_reaches_stderr_in_the_notebook(executed):
    """pipecheck's use of TensorFlow prints nothing under the reports (TF's C++ log goes to fd 2)."""
    nb = executed["nb"]
    stderr = {str(c.metadata.get("tags")): stream(c, "stderr") for c in nb.cells if c.cell_type == "code"}
    assert {tag: text for tag, text in stderr.items() if text} == {}
