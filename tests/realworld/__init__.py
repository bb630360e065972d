"""Regression corpora of real public pipelines and models (issue 15)."""
