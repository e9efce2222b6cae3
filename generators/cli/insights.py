"""CLI commands for account insights: limits, costs, access matrix and the organization graph.

Part of the CLI layer (it may print and exit through common.error_boundary); imported when one of its
commands is asked for (cli/common.py). The work is done in generators/insights/; this module only
formats and decides the exit code.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click

from generators.cli.common import Context, cli, error_boundary, make_console
from generators.errors import ToolError


def _table(*columns: str):
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def _text(value) -> str:
    """A value from AWS or the configuration, shown as is: brackets in it are not rich markup."""
    from rich.markup import escape

    return escape(str(value))


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2))


# -- limits -----------------------------------------------------------------------------------------


@cli.command("limits")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--warn", "warn_percent", type=click.FloatRange(min=0, min_open=True), default=80.0, show_default=True,
              help="Flag quotas used at or over this percentage; exit 1 when any is.")
@click.pass_obj
@error_boundary
def limits_command(ctx: Context, as_json: bool, warn_percent: float) -> None:
    """Usage against quota in every account holding environments: Lambda code storage, S3 buckets, IAM
    roles, DynamoDB tables, CloudFormation stacks (where used). Each figure names its source: the API,
    or the documented default when no API serves the quota. Needs credentials that can assume the
    access role in each account."""
    from generators.insights import as_json as to_json
    from generators.insights.limits import read_limits

    report = read_limits(ctx.organization(), warn_percent)
    if as_json:
        _echo_json({**to_json(report), "over": bool(report.flagged)})
    else:
        print_limits(report)
    problems = []
    if report.flagged:
        count = len(report.flagged)
        rows = ", ".join(f"{r.account.name} {r.resource} ({r.scope}) {r.percent:.1f}%" for r in report.flagged)
        problems.append(f"{count} quota{'s' if count != 1 else ''} at or over {warn_percent:g}%: {rows}")
    if report.failed:  # the other accounts' figures are above
        count = len(report.failed)
        problems.append(f"{count} account{'s' if count != 1 else ''} could not be measured:\n  "
                        + "\n  ".join(why for _, why in report.failed))
    if problems:
        raise ToolError("\n".join(problems))


def _amount(value: int, unit: str) -> str:
    if unit != "bytes":
        return f"{value:,}"
    for size, name in ((1024 ** 3, "GB"), (1024 ** 2, "MB"), (1024, "KB")):
        if value >= size:
            return f"{value / size:,.2f} {name}"
    return f"{value} B"


def print_limits(report) -> None:
    console = make_console()
    table = _table("account", "kind", "resource", "scope", "used", "quota", "used %", "usage from", "quota from", "")
    for row in report.rows:
        flag = "[red]OVER[/]" if row.flagged else ""
        table.add_row(_text(row.account.name), row.account.kind, row.resource, _text(row.scope),
                      _amount(row.used, row.unit), _amount(row.quota, row.unit), f"{row.percent:.2f}",
                      _text(row.used_source), _text(row.quota_source), flag)
    console.print(table)
    if report.headroom:
        console.print()
        console.print("[bold]development next to production[/] (percent of quota used; the rest is headroom)")
        headroom = _table("resource", "scope", "production", "used %", "development", "used %")
        for h in report.headroom:
            headroom.add_row(h.resource, _text(h.scope), _text(h.production.name) if h.production else "-",
                             "-" if h.production_percent is None else f"{h.production_percent:.2f}",
                             _text(h.development.name), f"{h.development_percent:.2f}")
        console.print(headroom)
    notes = sorted({(r.resource, r.note) for r in report.rows if r.note})
    for resource, note in notes:
        console.print(f"note: {resource}: {note}", markup=False)
    for name in report.skipped:
        console.print(f"skipped: account {name} has no id yet (bootstrap creates it)", markup=False)
    if not report.flagged and not report.failed:
        console.print(f"[green]ok:[/] every quota under {report.warn_percent:g}%")


# -- costs ------------------------------------------------------------------------------------------


@cli.command("costs")
@click.option("--month", metavar="YYYY-MM", help="Calendar month to report.  [default: the previous month]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables (amounts as exact strings).")
@click.pass_obj
@error_boundary
def costs_command(ctx: Context, month: str | None, as_json: bool) -> None:
    """One month of Cost Explorer, by account, Environment tag and service, mapped to the configuration;
    development cost without an Owner or Branch tag is listed as unowned. Run with the management
    account's credentials. Makes 2-3 GetCostAndUsage requests (AWS bills each)."""
    from generators.insights import as_json as to_json
    from generators.insights.costs import month_period, read_costs

    organization = ctx.organization()
    period = month_period(month, datetime.now(timezone.utc).date())
    report = read_costs(organization, period)
    if as_json:
        _echo_json(to_json(report))
        return
    console = make_console()
    estimated = " (estimated: the month is not final)" if report.estimated else ""
    console.print(f"[bold]{report.period.month}[/]: {report.total:,.2f} {report.unit} {report.metric}{estimated}")
    accounts = _table("account", "kind", "id", "cost", "top services")
    for cost in report.accounts:
        services = "; ".join(f"{s.service} {s.amount:,.2f}" for s in cost.top_services)
        accounts.add_row(_text(cost.account.name), cost.account.kind, cost.account.id, f"{cost.amount:,.2f}",
                         _text(services))
    console.print(accounts)
    console.print()
    environments = _table("account", "environment", "cost", "")
    for environment_cost in report.environments:
        environments.add_row(_text(environment_cost.account.name),
                             _text(environment_cost.environment or "(no Environment tag)"),
                             f"{environment_cost.amount:,.2f}",
                             "" if environment_cost.configured or environment_cost.environment is None
                             else "not in configuration")
    console.print(environments)
    console.print()
    if report.unowned:
        console.print("[bold]unowned development cost[/] (neither an Owner nor a Branch tag)")
        unowned = _table("account", "environment", "cost")
        for unowned_cost in report.unowned:
            unowned.add_row(_text(unowned_cost.account.name),
                            _text(unowned_cost.environment or "(no Environment tag)"), f"{unowned_cost.amount:,.2f}")
        console.print(unowned)
    else:
        console.print("unowned development cost: none")
    for note in report.notes:
        console.print(f"note: {note}", markup=False)


# -- access -----------------------------------------------------------------------------------------


@cli.command("access")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
@error_boundary
def access_command(ctx: Context, as_json: bool) -> None:
    """Who can plan and deploy where: the deploy and plan roles' trust policies, read live, as a
    principals x accounts matrix. Exit 1 when production is deployable by a non-CI principal, or
    without MFA or a pinned git ref or environment, or readable from a development or developer account;
    when a principal or GitHub subject that plans can deploy production or staging; or when a deploy
    role outside development accounts trusts a subject that a pull request can present."""
    from generators.insights import as_json as to_json
    from generators.insights.access import read_access

    report = read_access(ctx.organization())
    if as_json:
        _echo_json(to_json(report))
    else:
        print_access(report)
    if report.violations:
        raise ToolError(f"{len(report.violations)} access violation{'s' if len(report.violations) != 1 else ''}: "
                        + ", ".join(f"{v.rule} ({v.principal} on {v.account.name}/{v.role})"
                                    for v in report.violations))


def print_access(report) -> None:
    console = make_console()
    table = _table("principal", *(f"{a.name}\n{a.kind}" for a in report.accounts))
    shades = {"deploy": "[bold red]deploy[/]", "plan": "[yellow]plan[/]", "none": "[dim]-[/]"}
    for row in report.matrix:
        table.add_row(_text(row.principal), *(shades[level] for level in row.levels))
    console.print(table)
    for role in report.missing_roles:
        console.print(f"missing role: {role} (not bootstrapped?)", markup=False)
    for name in report.skipped:
        console.print(f"skipped: account {name} has no id yet (bootstrap creates it)", markup=False)
    for violation in report.violations:
        console.print("[red]violation[/] ", end="")
        console.print(f"[{violation.rule}] {violation.account.name}/{violation.role}: {violation.message}",
                      markup=False)
    for check in report.checks:
        if check.passed:
            console.print("[green]ok:[/] ", end="")
            console.print(f"[{check.rule}] {check.checked}", markup=False)


# -- graph ------------------------------------------------------------------------------------------


@cli.command("graph")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True,
              help="Mermaid (renders in GitHub markdown) or Graphviz DOT (`dot -Tsvg`).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@click.pass_obj
@error_boundary
def graph_command(ctx: Context, fmt: str, output: Path | None) -> None:
    """The organization as a picture: management, organizational units by kind, accounts, environments
    and `uses` edges, production and staging set apart. Offline and deterministic."""
    from generators.insights.graph import render

    text = render(ctx.organization(require_account_ids=False), fmt)  # a picture needs no ids
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ToolError(f"cannot write {output}: {exc.strerror}") from exc
    make_console(stderr=True).print(f"wrote {output}", markup=False)
