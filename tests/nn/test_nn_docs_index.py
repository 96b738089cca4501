"""docs/index.md links every guide in docs/."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_index_links_every_guide():
    links = set(re.findall(r"\]\(([^)#]+\.md)\)", (DOCS / "index.md").read_text()))
    guides = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    assert guides <= links, f"docs/index.md does not link {sorted(guides - links)}"
    for required in ("deferred-initialization.md", "initializers.md", "rules.md", "validation.md", "plugins.md",
                     "performance.md"):
        assert required in links
