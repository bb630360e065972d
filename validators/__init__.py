"""Judgement floor: turns data and training evidence into :class:`Finding` objects.

Never imports the face (``pipecheck.cli``/``render``); the data floor (``pipecheck.pipeline``) is
below it.
"""

from pipecheck.validators.findings import Finding, Report, Severity

__all__ = ["Finding", "Report", "Severity"]
