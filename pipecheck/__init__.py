"""pipecheck: stops image-classifier training runs from failing silently."""

__version__ = "0.1.0"
