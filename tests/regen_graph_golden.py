"""Regenerate tests/golden/graph/ from the example organization; review the diff before committing.

    .venv/bin/python tests/regen_graph_golden.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "graph"
FILES = {"mermaid": "example.mmd", "dot": "example.dot"}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from generators.config.organization import load_organization
    from generators.insights.graph import render

    organization = load_organization(ROOT / "environments", ROOT / "modules")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for fmt, name in FILES.items():
        (GOLDEN / name).write_text(render(organization, fmt), encoding="utf-8")
        print(f"wrote {(GOLDEN / name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
