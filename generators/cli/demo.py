"""`python main.py demo`: the whole multi-account loop on one machine, in a local AWS sandbox.

Part of the CLI layer; imported when one of its commands is asked for (cli/common.py). Starts moto's
server on loopback, bootstraps the organization, deploys every environment with the real terraform,
shows where each landed, and shows the wrong-account guard refusing a workspace pointed at another
account.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from generators.aws.sandbox import SANDBOX_OUT
from generators.cli.common import Context, cli, error_boundary, make_console, run_terraform
from generators.errors import ToolError



@cli.command("demo")
@click.option("--keep", is_flag=True, help="Leave the sandbox running afterwards and print how to use it.")
@click.option("--out", "outdir", type=click.Path(path_type=Path), default=SANDBOX_OUT, show_default=True,
              help="Output folder for the sandbox's workspaces (kept apart from cdktf.out: they carry "
                   "sandbox-only settings).")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="Parallel workspaces.")
@click.pass_obj
@error_boundary
def demo(ctx: Context, keep: bool, outdir: Path, jobs: int) -> None:
    """Run the example organization end to end in a local multi-account AWS sandbox."""
    from rich.table import Table

    from generators.aws.bootstrap import BootstrapRequest, bootstrap
    from generators.aws.demo import landings, memberships, wrong_account_guard
    from generators.aws.sandbox import running_sandbox
    from generators.run.runner import default_cache_dir
    from generators.terraform_cli import user_cli_config, write_cli_config

    started = time.monotonic()
    console = make_console()
    organization = ctx.organization()
    with running_sandbox(organization.settings.region, keep=keep, organization=organization) as sandbox:
        console.rule("1. A local AWS: moto's server on loopback, many accounts")
        console.print(f"endpoint {sandbox.endpoint}; boto3 and terraform reach it through AWS_ENDPOINT_URL")

        console.rule("2. Bootstrap: Organization, guardrails, a state bucket and two roles per account")
        report = bootstrap(BootstrapRequest(organization, ctx.environments_dir))
        if report.failed:
            raise ToolError("bootstrap failed: " + "; ".join(f"{r.account}: {r.item}: {r.detail}" for r in report.failed))
        console.print(", ".join(f"{report.count(s)} {s.value}" for s in type(report.rows[0].status)))
        placed = memberships(organization)
        table = Table(box=None, header_style="bold")
        for column in ("account", "membership", "organizational unit", "service control policies"):
            table.add_column(column)
        for member in placed:
            table.add_row(f"{member.account} ({member.account_id})", member.status, member.unit,
                          ", ".join(member.policies) or "-")
        console.print(table)

        console.rule("3. Synthesize and deploy every environment with terraform")
        # Extensions the emulator cannot serve are left out of every sandbox run (said above the
        # deploy); `synth` and deploys to real AWS keep them.
        run_terraform(ctx, "deploy", (), True, jobs=jobs, outdir=outdir, no_extensions=False,
                      lock_timeout=None, auto_approve=True, allow_production=True)

        console.rule("4. Where each environment landed")
        table = Table(box=None, header_style="bold")
        for column in ("environment", "kind", "account"):
            table.add_column(column, no_wrap=True)
        table.add_column("state", no_wrap=True, overflow="ignore")  # a URL to copy: never folded
        table.add_column("created", overflow="fold")
        results = landings(organization)
        for landing in results:
            types = sorted({a.rsplit(".", 2)[-2].removeprefix("aws_") for a in landing.resources})
            table.add_row(landing.environment, landing.kind, f"{landing.account} ({landing.account_id})",
                          landing.state_url if landing.state_found else f"[red]missing[/] {landing.state_url}",
                          f"{len(landing.resources)} resources ({', '.join(t for t in types if not t.startswith('s3_bucket_'))})")
        console.print(table)

        console.rule("5. The guard: a workspace pointed at the wrong account")
        guard = wrong_account_guard(organization, outdir.resolve() / "stacks", default_cache_dir())
        verdict = "[green]refused[/]" if guard.refused else "[red]NOT refused[/]"
        console.print(f"'{guard.environment}' (account {guard.own_account_id}) pointed at account "
                      f"{guard.pointed_at}: {verdict} before any change")
        console.print(f"  terraform: {guard.message}", markup=False)

        console.rule("6. Service-limit headroom per account (the layout keeps dev's usage away from production's)")
        from generators.cli.insights import print_access, print_limits
        from generators.insights.access import read_access
        from generators.insights.limits import read_limits

        print_limits(read_limits(organization))
        console.rule("7. Who can plan or deploy where (read live from the roles' trust policies)")
        access = read_access(organization)
        print_access(access)

        missing = [l.environment for l in results if not l.state_found]
        outsiders = [m.account for m in placed if m.status != "ACTIVE"]
        if outsiders:
            raise ToolError(f"demo failed: accounts not in the sandbox Organization: {', '.join(outsiders)}")
        if missing or not guard.refused:
            raise ToolError(f"demo failed: state missing for {', '.join(missing) or 'none'}; "
                            f"guard {'held' if guard.refused else 'did not hold'}")
        if access.violations:
            raise ToolError(f"demo failed: the access matrix shows {len(access.violations)} layout violations")
        console.rule("Summary")
        accounts = {l.account_id for l in results}
        console.print(f"[green]ok[/]: {len(results)} environments deployed into {len(accounts)} accounts, each with "
                      f"its state in its own account; the guard held. ({time.monotonic() - started:.0f} s)")
        if keep:
            console.print("The sandbox keeps running; in another shell:")
            for name, value in sandbox.environment().items():
                console.print(f"  export {name}={value}", markup=False)
            if user_cli_config() is None:  # so `terraform` and `npx cdktf` install providers as the demo did
                console.print(f"  export TF_CLI_CONFIG_FILE={write_cli_config(default_cache_dir())}", markup=False)
            console.print(f"  terraform -chdir={outdir}/stacks/dev plan", markup=False)
            console.print("Press Ctrl-C to stop it.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
