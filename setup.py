"""The one compiled part of pipecheck; everything else is declared in pyproject.toml.

The image-quality measures' inner loops in C (``pipeline/_quality.c``), on the stable ABI: one build
serves every Python from 3.11. Optional: where no C compiler is found at install, pipecheck uses
numpy's twin of the same loops (``pipeline/quality.py``), with the same numbers and ~0.1 ms more per image.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("pipecheck.pipeline._quality", ["pipeline/_quality.c"], py_limited_api=True, optional=True),
    ],
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
