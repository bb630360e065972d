"""VerifyTraining and run_train_check on Keras 3's JAX and PyTorch backends, fed numpy batches.

Keras picks its backend once per process, so each check runs in a subprocess with KERAS_BACKEND set.
Each backend is skipped, with the reason shown by ``pytest -ra``, where its framework is not
installed (neither is a dependency of pipecheck). ``./dev test``'s tfdv environment installs PyTorch
2.13.0 (CPU) and sets PIPECHECK_REQUIRE_EXTRAS=...,torch: there a missing torch fails instead of skipping.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from extras import REQUIRED

BACKENDS = [
    pytest.param(
        "jax",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("jax") is None,
            reason="JAX is not installed: the JAX-backend path of the training hook is not run here",
        ),
    ),
    pytest.param(
        "torch",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("torch") is None and "torch" not in REQUIRED,
            reason="PyTorch is not installed: the torch-backend path of the training hook is not run here",
        ),
    ),
]

SCRIPT = textwrap.dedent("""
    import json, keras, numpy as np
    from training_cases import fit_verified, problems, quadrant_data, vgg_like
    from test_training_run import _compiled, _deep
    from pipecheck.validators.training import run_train_check
    x, y = quadrant_data(512)
    out = {"backend": keras.backend.backend()}
    out["healthy"] = sorted(problems(fit_verified(vgg_like(), keras.optimizers.Adam(1e-3), x[:256], y[:256]).findings))
    # 32 steps, as in the TensorFlow test: the ReLUs are confirmed dead only after the collapse
    killed = fit_verified(vgg_like(), keras.optimizers.SGD(1.0), np.clip(x * 0.15, -0.5, 0.5), y)
    out["killed"] = sorted(problems(killed.findings))
    rep = run_train_check(_compiled(_deep("sigmoid", "glorot_uniform", 10), keras.optimizers.Adam(1e-3)), (x[:256], y[:256]), steps=10)
    out["sigmoid"] = sorted(problems(rep.findings))
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_backends_run_the_same_detectors(backend):
    here = Path(__file__).parent
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT") :])
    assert out["backend"] == backend
    assert out["healthy"] == []
    assert {"training.dying_relu", "training.constant_output"} <= set(out["killed"])
    assert "training.vanishing_gradients" in out["sigmoid"]  # the gradient probe runs there too
