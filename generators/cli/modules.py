"""`modules fetch`: download every pinned git and registry module source once into the shared cache, so that
validate checks those modules' inputs and synth can build their workspaces, offline afterwards."""

from __future__ import annotations

import click

from generators.cli.common import Context, cli, error_boundary, make_console


@cli.group()
def modules() -> None:
    """Module sources outside modules/ (git, registry)."""


@modules.command()
@click.pass_obj
@error_boundary
def fetch(ctx: Context) -> None:
    """Fetch every git and registry module source the environments call into the cache; then validate."""
    from generators.config.module_sources import cache_root
    from generators.config.module_fetch import fetch as fetch_source

    organization = ctx.organization()
    console = make_console()
    sources = {call.source.text: call.source for environment in organization.environments
               for call in environment.modules if call.source is not None and call.source.is_remote}
    for _, source in sorted(sources.items()):
        folder = fetch_source(source)
        console.print("  [green]fetched[/]  ", end="")
        console.print(f"{source.describe()} -> {folder}", markup=False)
    if not sources:
        console.print("Nothing to fetch: every module is in the repository.")
    organization = ctx.organization()  # now every fetched module's inputs are checked
    console.print(f"[green]valid:[/] organization '{organization.name}': {len(sources)} module sources in "
                  f"{cache_root()}")


@cli.command()
@click.argument("environment")
@click.pass_obj
@error_boundary
def show(ctx: Context, environment: str) -> None:
    """Print ENVIRONMENT's effective definition (its layout merged in) and where each value came from."""
    from generators.config.show import effective_definition
    from generators.errors import UsageError

    organization = ctx.organization()
    names = [e.name for e in organization.environments]
    if environment not in names:
        raise UsageError(f"unknown environment '{environment}'; known: {', '.join(names)}")
    make_console().print(effective_definition(organization.environment(environment)), markup=False, end="")
