"""Regenerate the check table of docs/checks.md from the registry: python scripts/update_check_docs.py

Only the part between the ``<!-- checks:begin ... -->`` and ``<!-- checks:end -->`` markers is
rewritten; tests/cli/test_readme.py fails while it differs from ``pipecheck checks --format markdown``.
"""

import re
import sys
from pathlib import Path

from pipecheck.cli import checks_markdown
from pipecheck.validators.registry import all_checks

CHECKS_DOC = Path(__file__).resolve().parent.parent / "docs" / "checks.md"
BEGIN = re.compile(r"(<!-- checks:begin[^>]*-->\n)(.*?)(<!-- checks:end -->)", re.S)


def render(text: str) -> str:
    """``text`` with the generated table between its markers replaced by the registry's."""
    return BEGIN.sub(lambda m: m.group(1) + checks_markdown(all_checks()) + m.group(3), text)


if __name__ == "__main__":
    text = CHECKS_DOC.read_text(encoding="utf-8")
    if not BEGIN.search(text):
        sys.exit(
            f"{CHECKS_DOC}: no <!-- checks:begin --> ... <!-- checks:end --> markers; put them back around the table"
        )
    CHECKS_DOC.write_text(render(text), encoding="utf-8")
