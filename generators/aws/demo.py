"""What the demo shows after deploying: where each environment landed, where its state lives, what it
created, and the wrong-account guard refusing a workspace pointed at another account.

Everything here reads real results: state objects from each account's bucket, and a real
`terraform plan` for the guard.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generators.aws import clients as aws
from generators.config.models import AccountKind, Environment, Organization
from generators.terraform_cli import terraform_binary, terraform_environment


@dataclass(frozen=True)
class Landing:
    environment: str
    kind: str
    account: str
    account_id: str | None
    state_url: str
    state_found: bool
    resources: tuple[str, ...]  # resource addresses recorded in the state


@dataclass(frozen=True)
class GuardCheck:
    environment: str
    own_account_id: str | None
    pointed_at: str | None  # the account id the workspace was pointed at
    refused: bool
    message: str  # Terraform's own words


def landings(organization: Organization) -> list[Landing]:
    """Read each environment's state object from its own account's bucket, as that account."""
    base = aws.session(organization.settings.region)
    result = []
    for environment in organization.environments:
        account = environment.account
        session = aws.assume_role_session(base, organization.role_arn(account, organization.settings.access_role),
                                          "demo-inspect", organization.settings.region)
        bucket = organization.state_bucket(account)
        try:
            body = aws.client(session, "s3").get_object(Bucket=bucket, Key=environment.state_key)["Body"].read()
            state = json.loads(body)
            found = True
        except Exception:  # noqa: BLE001 - a missing state is shown as such, not raised
            state, found = {}, False
        result.append(Landing(
            environment=environment.name, kind=environment.kind.value, account=account.name, account_id=account.id,
            state_url=f"s3://{bucket}/{environment.state_key}", state_found=found,
            resources=tuple(_addresses(state))))
    return result


@dataclass(frozen=True)
class Membership:
    account: str
    account_id: str
    status: str  # the Organization's view: ACTIVE, or "not a member"
    unit: str  # the organizational unit it sits in ("root" when in none)
    policies: tuple[str, ...]  # service control policies attached to it or its unit, by name


def memberships(organization: Organization) -> list[Membership]:
    """Each account as the Organization sees it, read live with the management credentials: its OU and
    the service control policies that apply to it."""
    client = aws.client(aws.session(organization.settings.region), "organizations")
    members = {a["Id"]: a for page in client.get_paginator("list_accounts").paginate() for a in page["Accounts"]}
    result = []
    for account in organization.accounts:
        if account.id is None or account.kind is AccountKind.MANAGEMENT:
            continue
        if account.id not in members:
            result.append(Membership(account.name, account.id, "not a member", "-", ()))
            continue
        parent = client.list_parents(ChildId=account.id)["Parents"][0]
        unit = "root" if parent["Type"] == "ROOT" else client.describe_organizational_unit(
            OrganizationalUnitId=parent["Id"])["OrganizationalUnit"]["Name"]
        # an SCP applies through every level above the account: its OU and the root
        chain, node = [account.id], parent
        while True:
            chain.append(node["Id"])
            if node["Type"] == "ROOT":
                break
            node = client.list_parents(ChildId=node["Id"])["Parents"][0]
        policies = set()
        for target in chain:
            policies |= {p["Name"] for p in client.list_policies_for_target(
                TargetId=target, Filter="SERVICE_CONTROL_POLICY")["Policies"] if not p.get("AwsManaged")}
        result.append(Membership(account.name, account.id, members[account.id]["Status"], unit,
                                 tuple(sorted(policies))))
    return result


def _addresses(state: dict) -> list[str]:
    addresses = []
    for resource in state.get("resources", []):
        if resource.get("mode") != "managed":
            continue
        prefix = f"{resource['module']}." if resource.get("module") else ""
        addresses.append(f"{prefix}{resource['type']}.{resource['name']}")
    return sorted(addresses)


def wrong_account_guard(organization: Organization, stack: Path, cache_dir: Path) -> GuardCheck:
    """Plan a copy of a deployed workspace whose provider is pointed at another account's role: the
    provider's allowed_account_ids must make Terraform refuse before touching anything."""
    environment = _guard_subject(organization)
    other = next(a for a in organization.accounts if a.id and a.id != environment.account.id
                 and a.kind is not AccountKind.MANAGEMENT)
    # a sibling of the real stack folder, so the relative module sources still resolve
    copy = Path(tempfile.mkdtemp(prefix=f".guard-{environment.name}-", dir=stack))
    try:
        shutil.copytree(stack / environment.name, copy, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("plan.tfplan", "plan.json", "terraform.log"))
        override = {"provider": {"aws": [{"assume_role": [{
            "role_arn": f"arn:aws:iam::{other.id}:role/{organization.settings.deploy_role}"}]}]}}
        (copy / "override.tf.json").write_text(json.dumps(override))
        completed = subprocess.run([terraform_binary(), "plan", "-input=false", "-no-color", "-lock=false"],
                                   cwd=copy, env=terraform_environment(cache_dir), capture_output=True, text=True,
                                   timeout=300)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    output = completed.stdout + completed.stderr
    errors = [line.strip(" │") for line in output.splitlines() if line.strip(" │").startswith("Error:")]
    message = next((e for e in errors if "not allowed" in e), errors[0] if errors else output.strip()[-500:])
    return GuardCheck(environment=environment.name, own_account_id=environment.account.id, pointed_at=other.id,
                      refused=completed.returncode != 0 and "not allowed" in output, message=message.strip())


def _guard_subject(organization: Organization) -> Environment:
    """A development environment if there is one: the guard is what keeps it away from production."""
    return next((e for e in organization.environments if e.kind is AccountKind.DEVELOPMENT),
                organization.environments[0])
