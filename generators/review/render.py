"""A plan review as text: markdown for the pull-request comment (jinja2 templates in
``templates/review/``, fitted under GitHub's comment limit by shortening details, never the danger
section) and JSON for machines (``deploy --expect-review`` reads it back)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators import TOOL_NAME
from generators.review.plan_changes import change_set_digest
from generators.review.review import EnvironmentReview, Flag, ResourceChange, Review

# GitHub rejects an issue or pull-request comment longer than this many characters.
GITHUB_COMMENT_LIMIT = 65_536
# What the markdown is fitted into: the rest leaves room for a line CI may add around it.
MARKDOWN_BUDGET = GITHUB_COMMENT_LIMIT - 536
# First line of the comment, so CI can find and update its previous comment instead of adding one.
COMMENT_MARKER = f"<!-- {TOOL_NAME} plan review -->"
JSON_FORMAT_VERSION = 1
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates" / "review"


def review_as_dict(review: Review) -> dict[str, Any]:
    def flag(f: Flag) -> dict[str, Any]:
        return {"severity": f.severity.value, "environment": f.environment, "account": f.account,
                "account_id": f.account_id, "reason": f.reason, "address": f.address or None,
                "type": f.type or None, "action": f.action or None}

    def environment(e: EnvironmentReview) -> dict[str, Any]:
        return {
            "environment": e.environment, "account": e.account, "account_id": e.account_id,
            "account_id_verified": e.account_verified, "kind": e.kind, "role": e.role, "role_arn": e.role_arn,
            "result": e.result, "status": e.status, "summary": e.summary, "message": e.message,
            "add": e.add, "change": e.change, "destroy": e.destroy, "replace": e.replace,
            "destroyed": list(e.destroyed), "replaced": list(e.replaced),
            "output_changes": list(e.output_changes),
            "changes": [{"address": c.address, "type": c.type, "action": c.action, "reason": c.reason or None}
                        for c in e.changes],
            "flags": [flag(f) for f in e.flags],
            "plan_file": e.plan_file or None,
            "plan_sha256": e.plan_sha256 or None,
            "change_set": [c.as_dict() for c in e.change_set],
            "change_set_sha256": change_set_digest(e.change_set),
        }

    return {
        "format_version": JSON_FORMAT_VERSION,
        "headline": review.headline,
        "role": review.role,
        "counts": review.counts(),
        "danger": [flag(f) for f in review.dangers],
        "notices": [flag(f) for f in review.notices],
        "accounts": [{"account": g.account, "account_id": g.account_id, "kind": g.kind,
                      "environments": [environment(e) for e in g.environments]} for g in review.accounts],
        "orphans": [{"environment": o.environment, "account": o.account, "account_id": o.account_id,
                     "bucket": o.bucket, "key": o.key, "resources": o.resources,
                     "last_modified": o.last_modified or None} for o in review.orphans],
        "orphans_scanned": review.orphans_scanned,
        "orphan_scan_problems": [{"account": p.account, "account_id": p.account_id, "message": p.message}
                                 for p in review.scan_problems],
    }


def render_json(review: Review) -> str:
    return json.dumps(review_as_dict(review), indent=2) + "\n"


# -- markdown --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Detail:
    """One environment's <details> block, with its lists cut to the current cap."""

    environment: EnvironmentReview
    destructive: tuple[ResourceChange, ...]
    destructive_more: int
    changes: tuple[ResourceChange, ...]
    changes_more: int
    outputs: tuple[str, ...]
    outputs_more: int


@dataclass(frozen=True)
class _Level:
    """How much of the optional parts a rendering keeps; the danger section is always whole."""

    cap: int | None = None  # most entries per list in a <details> block; None: all
    details: bool = True
    unchanged_rows: bool = True  # a table row per unchanged environment, or one line naming how many
    table: bool = True


# Tried in order until the comment fits: cut the lists in the details, then drop the details, then fold
# the unchanged environments' rows, then the table. The danger and orphan sections are never cut.
_LEVELS = (_Level(), _Level(cap=200), _Level(cap=50), _Level(cap=10), _Level(cap=0),
           _Level(details=False), _Level(details=False, unchanged_rows=False), _Level(details=False, table=False))


def render_markdown(review: Review, limit: int = MARKDOWN_BUDGET, templates_dir: Path = TEMPLATES_DIR) -> str:
    """The pull-request comment, at most ``limit`` characters: details are cut, with a note, before
    anything else; the danger section is kept whole unless it alone cannot fit in a comment."""
    template = _templates(templates_dir).get_template("comment.md.j2")
    text = ""
    for level in _LEVELS:
        text = template.render(_context(review, level))
        if len(text) <= limit:
            return text
    # Only the danger section can still be too long: a comment that cannot be posted would hide it
    # entirely, so the end is cut and the comment says so (the JSON has every flag).
    note = ("\n\n> **The danger list alone exceeds GitHub's comment limit and was cut here; every flag is in "
            "the JSON summary.**\n")
    return text[: max(0, limit - len(note))].rstrip() + note


def _context(review: Review, level: _Level) -> dict[str, Any]:
    details = []
    if level.details:
        for environment in review.environments:
            if not (environment.has_changes or environment.failed):
                continue
            destructive = tuple(c for c in environment.changes if c.action in ("delete", "replace"))
            details.append(_Detail(environment, *_cut(destructive, level.cap), *_cut(environment.changes, level.cap),
                                   *_cut(environment.output_changes, level.cap)))
    rows = [e for e in review.environments if level.unchanged_rows or e.status != "unchanged"]
    with_details = [e for e in review.environments if e.has_changes or e.failed]
    truncated = (not level.table or len(rows) < len(review.environments) or len(details) < len(with_details)
                 or any(d.destructive_more or d.changes_more or d.outputs_more for d in details))
    return {
        "marker": COMMENT_MARKER,
        "review": review,
        "headline": review.headline,
        "dangers": review.dangers,
        "notices": review.notices,
        "rows": rows if level.table else [],
        "table": level.table,
        "folded_unchanged": len(review.environments) - len(rows),
        "details": details,
        "show_details": level.details,
        "truncated": truncated,
        "limit": f"{GITHUB_COMMENT_LIMIT:,}",
    }


def _cut(items: tuple, cap: int | None) -> tuple[tuple, int]:
    if cap is None or len(items) <= cap:
        return tuple(items), 0
    return tuple(items[:cap]), len(items) - cap


def _templates(templates_dir: Path):
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)), undefined=jinja2.StrictUndefined,
        autoescape=False,  # markdown, not HTML; cells and code spans are escaped by the filters below
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    environment.filters["cell"] = markdown_cell
    environment.filters["code"] = markdown_code
    environment.filters["code_cell"] = lambda text: markdown_code(text, in_table=True)
    environment.filters["text"] = markdown_text
    return environment


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def markdown_text(value: Any) -> str:
    """Free text (an error message, say) as plain markdown: specials backslash-escaped, one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def markdown_cell(value: Any, width: int = 300) -> str:
    """A table cell: one line, `|` and backticks (and every other markdown special) escaped, kept short."""
    text = " ".join(str(value).split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return markdown_text(text)


def markdown_code(value: Any, in_table: bool = False) -> str:
    """A code span that survives backticks in the value (a longer fence) and, in a table, pipes."""
    text = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    if in_table:
        padded = padded.replace("|", r"\|")  # GFM splits cells on | even inside code spans
    return f"{fence}{padded}{fence}"
