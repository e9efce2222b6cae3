#!/usr/bin/env python3
"""Plan benchmark: prints its figures; nothing here or in the tests asserts a time.

In one run, in a local sandbox (moto on loopback, bootstrapped, six environments deployed first):
  * baseline: a naive loop of `terraform init && terraform plan` in each stack folder, one after another;
  * `python main.py plan --all --jobs 2` (init serialized, plans in parallel), same role, same cache;
and, for change detection, an organization of 50 environments in a git repository with one
environment's file changed: how many environments `affected` (and so `plan --changed-since`) plans.
Target (from the issue): plan --all --jobs 2 at least 1.6x faster than the loop; exactly one plan.

    .venv/bin/python benchmarks/plan_benchmark.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generators.aws.bootstrap import BootstrapRequest, bootstrap  # noqa: E402
from generators.aws.sandbox import running_sandbox  # noqa: E402
from generators.config.organization import load_organization  # noqa: E402
from generators.run.model import RunRequest  # noqa: E402
from generators.run.runner import run  # noqa: E402
from generators.terraform_cli import terraform_environment  # noqa: E402

SIX = ("production", "preprod", "qa", "uat", "dev", "feature-checkout")


def project_with(folder: Path, keep: tuple[str, ...]) -> Path:
    shutil.copytree(ROOT / "environments", folder / "environments")
    shutil.copytree(ROOT / "modules", folder / "modules")
    for path in (folder / "environments").glob("*.hcl"):
        if path.stem not in {"organization", "accounts", "layouts", *keep}:
            path.unlink()
    return folder


def main_py(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--environments", str(project / "environments"),
                           "--modules", str(project / "modules"), *args], capture_output=True, text=True, cwd=ROOT)


def plan_speed(scratch: Path) -> tuple[float, float]:
    project = project_with(scratch / "plan", SIX)
    out = project / "cdktf.out"
    cache = scratch / "terraform-cache"
    os.environ["AWS_ORG_WORKSPACES_CACHE"] = str(cache)
    organization = load_organization(project / "environments", project / "modules")
    with running_sandbox(organization.settings.region):
        bootstrap(BootstrapRequest(organization, project / "environments"))
        deployed = run(RunRequest(organization=organization, modules_dir=project / "modules", outdir=out,
                                  action="deploy", all_environments=True, auto_approve=True, allow_production=True,
                                  with_extensions=False, local_endpoint=True, jobs=2))
        if deployed.failed:
            raise SystemExit(f"setup deploy failed: {[r.message for r in deployed.failed]}")
        env = terraform_environment(cache)

        started = time.perf_counter()
        for name in SIX:  # the naive loop, as someone would write it by hand
            stack = out / "stacks" / name
            for command in (["init", "-input=false", "-reconfigure"], ["plan", "-input=false", "-lock-timeout=60s"]):
                done = subprocess.run(["terraform", *command, "-no-color"], cwd=stack, env=env, capture_output=True,
                                      text=True)
                if done.returncode not in (0, 2):
                    raise SystemExit(f"{name}: terraform {command[0]} failed:\n{done.stderr}")
        loop = time.perf_counter() - started

        started = time.perf_counter()
        done = main_py(project, "plan", "--all", "--jobs", "2", "--role", "deploy", "--no-extensions",
                       "--out", str(out))
        tool = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"plan --all failed:\n{done.stdout}\n{done.stderr}")
    return loop, tool


def change_detection(scratch: Path) -> tuple[int, int]:
    project = project_with(scratch / "affected", ("dev", "feature-checkout"))
    extra = 50 - 2
    for index in range(extra):
        (project / "environments" / f"feature-{index:02d}.hcl").write_text(
            (project / "environments" / "feature-checkout.hcl").read_text()
            .replace('"feature-checkout"', f'"feature-{index:02d}"').replace("feature/checkout", f"feature/{index}"))
    git = ["git", "-C", str(project), "-c", "user.name=b", "-c", "user.email=b@example.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    target = project / "environments" / "feature-07.hcl"
    target.write_text(target.read_text().replace('ttl     = "7d"', 'ttl     = "3d"'))
    done = main_py(project, "affected", "--changed-since", "HEAD", "--json")
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    import json

    affected = [a for a in json.loads(done.stdout) if not a.get("removed")]
    return len(affected), len(load_organization(project / "environments", project / "modules").environments)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        planned, total = change_detection(Path(scratch))
        loop, tool = plan_speed(Path(scratch))
    print(f"{'case':<44}{'seconds':>10}")
    print(f"{'naive loop: init && plan, 6 stacks':<44}{loop:>10.1f}")
    print(f"{'main.py plan --all --jobs 2, 6 stacks':<44}{tool:>10.1f}")
    print(f"speed-up: {loop / tool:.2f}x (target >= 1.6x)")
    print(f"change detection: one environment file changed in an organization of {total}: {planned} plan(s)")


if __name__ == "__main__":
    main()
