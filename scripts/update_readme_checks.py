"""Regenerate the README's check table from the registry: python scripts/update_readme_checks.py"""

import re
from pathlib import Path

from pipecheck.cli import checks_markdown
from pipecheck.validators.registry import all_checks

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = re.compile(r"(<!-- checks:begin[^>]*-->\n)(.*?)(<!-- checks:end -->)", re.S)


def render(text: str) -> str:
    return BEGIN.sub(lambda m: m.group(1) + checks_markdown(all_checks()) + m.group(3), text)


if __name__ == "__main__":
    README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")
