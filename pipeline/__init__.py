"""Data floor: dump scanning, image checks, splitting, TFRecord writing and reading.

Imports nothing from ``pipecheck.validators`` or the CLI; returns plain results.
"""


def load_dataset(*args, **kwargs):
    """See :func:`pipecheck.pipeline.reader.load_dataset` (imported lazily: it needs TensorFlow)."""
    from pipecheck.pipeline.reader import load_dataset as _load

    return _load(*args, **kwargs)


__all__ = ["load_dataset"]
