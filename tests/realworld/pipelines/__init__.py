"""Real public input pipelines, one module per case, adapted small (issue 15).

Each module starts with a header comment naming its source, what the original does, its bug (or
"healthy") and what was shrunk. It declares ``BACKBONE``, ``SOURCE`` (the callable handed to
``--source``), optionally ``MODEL`` (the factory handed to ``--model``), ``HEALTHY``,
``MUST_RAISE`` (ids reported at warning or error), ``MUST_NOT_RAISE`` (ids that must not be
reported at error) and optionally ``KNOWN_MISS`` (why pipecheck cannot catch the bug today).
Shared data and the OpenCV stand-in live in the ``_``-prefixed modules.
"""
