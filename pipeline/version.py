"""pipecheck's version, for the manifest, the reports and ``pipecheck --version``.

The one number lives in pyproject.toml; this reads it from the installed distribution's metadata, so
the lowest floor can stamp what it writes without importing the face (``pipecheck/__init__``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pipecheck")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
