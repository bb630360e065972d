"""Real public models with (and without) training bugs, adapted small: one module per case.

Each case module starts with a header naming its source and declares what ``pipecheck
train-check`` must report on it; ``tests/realworld/test_models.py`` runs them all. See
``tests/realworld/MODELS.md`` for the table.
"""
