"""Errors for misuse and unreadable input (exit code 2 at the CLI).

Data problems are never raised: they are returned as reject records or findings. These are for
input the tool cannot work with at all: a missing folder, an unreadable manifest, bad options.
Messages are one line that names the file and the fix.
"""


class InputError(ValueError):
    """Unusable input or options; the message names the path and what to do."""
