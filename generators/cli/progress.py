"""What the runner's progress and results look like: plain lines, a live table, the summary.

Pure display helpers: they build strings and rich renderables from the runner's events and report;
the CLI decides where they go (a live display on a terminal, plain lines otherwise).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from generators.run.model import Confirmation, Event, Result, RunReport

if TYPE_CHECKING:
    from generators.review.review import Review

RESULT_STYLES = {Result.OK: "green", Result.FAILED: "red", Result.SKIPPED: "yellow", Result.REFUSED: "magenta"}
_LAST_LINE_WIDTH = 90


def plain_line(event: Event) -> str | None:
    """One line per step and outcome ("[dev] init ...", "[dev] plan: 6 to add, ..."); None for raw output,
    which is in the log."""
    if event.kind == "output":
        return None
    if event.environment is None:
        return event.message or event.step
    if event.kind == "step":
        return f"[{event.environment}] {event.step} ..." + (f" {event.message}" if event.message else "")
    return f"[{event.environment}] {event.step}: {event.message}"


class ProgressBoard:
    """The live table: one row per workspace with its current step and Terraform's latest line.

    Updated from the runner's worker threads and rendered from rich's refresh thread, hence the lock."""

    def __init__(self, environments: list[str]):
        self._lock = threading.Lock()
        self._rows = {name: ["queued", ""] for name in environments}
        self._header = ""

    def update(self, event: Event) -> None:
        with self._lock:
            if event.environment is None:
                self._header = event.message
                return
            row = self._rows.setdefault(event.environment, ["", ""])
            if event.kind == "step":
                row[0], row[1] = f"{event.step} ...", event.message
            elif event.kind == "result":
                row[0], row[1] = event.step, event.message
            else:
                row[1] = event.message

    def render(self):
        from rich.table import Table

        with self._lock:
            table = Table(box=None, header_style="bold", title=self._header or None, title_justify="left")
            table.add_column("environment")
            table.add_column("step")
            table.add_column("latest", overflow="ellipsis", no_wrap=True, max_width=_LAST_LINE_WIDTH)
            for name, (step, latest) in self._rows.items():
                table.add_row(name, step, latest)
            return table


def summary_table(report: RunReport):
    from rich.table import Table

    title = f"{report.action} summary" + (f" (role {report.role})" if report.role else "")
    table = Table(box=None, header_style="bold", title=title, title_justify="left")
    for column in ("environment", "account", "action", "result"):
        table.add_column(column)
    for column in ("add", "change", "destroy", "duration"):
        table.add_column(column, justify="right")
    table.add_column("log", overflow="fold")
    for result in report.results:
        counts = (result.changes.add, result.changes.change, result.changes.destroy) if result.changes else ("-",) * 3
        style = RESULT_STYLES[result.result]
        table.add_row(result.environment, result.account, result.action,
                      f"[{style}]{result.result.value}[/]", *(str(c) for c in counts),
                      f"{result.duration:.1f}s" if result.log_path else "-",
                      display_path(result.log_path) if result.log_path else "-")
    return table


def summary_notes(report: RunReport) -> list[str]:
    """Why each workspace that did not simply succeed ended as it did."""
    return [f"{r.environment}: {r.result.value}: {r.message}" for r in report.results
            if r.message and (r.result is not Result.OK or r.message != "no changes")]


def review_lines(review: Review) -> list[str]:
    """The plan review on a terminal: headline, every flag (danger first), orphans, unsearched accounts."""
    lines = [f"review: {review.headline}"]
    for flag in review.flags:
        what = f"{flag.action} {flag.address}" if flag.address else flag.reason
        why = f" ({flag.reason})" if flag.address else ""
        lines.append(f"  {flag.severity.value.upper()}  {flag.environment} [{flag.account} {flag.account_id}]: "
                     f"{what}{why}")
    for orphan in review.orphans:
        count = "unknown resources" if orphan.resources < 0 else \
            f"{orphan.resources} resource{'s' if orphan.resources != 1 else ''}"
        lines.append(f"  ORPHAN  {orphan.environment} [{orphan.account} {orphan.account_id}]: {count} in "
                     f"s3://{orphan.bucket}/{orphan.key}, environment no longer defined")
    for problem in review.scan_problems:
        lines.append(f"  NOT SEARCHED for orphaned state: {problem.account} {problem.account_id}: {problem.message}")
    return lines


def confirmation_lines(confirmation: Confirmation) -> list[str]:
    """What is shown before asking: the full plan for production, one summary line per workspace otherwise."""
    if confirmation.production:
        lines = []
        for plan in confirmation.plans:
            lines.append(f"--- {plan.environment} (production account '{plan.account}') ---")
            lines.append((plan.plan_text or "").rstrip() or f"Plan: {plan.changes}.")
            lines.append(f"{plan.environment}: {plan.changes}")
        return lines
    width = max(len(p.environment) for p in confirmation.plans)
    return [f"  {p.environment:<{width}}  ({p.account}): {p.changes}" for p in confirmation.plans]


def confirmation_question(confirmation: Confirmation) -> str:
    names = ", ".join(p.environment for p in confirmation.plans)
    verb = "Apply these plans" if len(confirmation.plans) > 1 else "Apply this plan"
    if confirmation.production:
        return f"{verb} to PRODUCTION ({names}) now?"
    return f"{verb} ({confirmation.action}: {names})?"


def display_path(path: Path) -> str:
    """Relative to the working directory when inside it: shorter, and still a path the user can open."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative
