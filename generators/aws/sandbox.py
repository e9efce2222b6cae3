"""A local multi-account AWS sandbox: moto's server mode on loopback, in this process.

moto serves real HTTP for Organizations, IAM, STS, S3 (with the conditional writes that S3-native
state locking needs), DynamoDB and SSM, and assuming a role in account N yields credentials that act
in N, so the whole multi-account layout runs on one machine. It stores but does not enforce SCPs,
bucket policies and most trust conditions.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Mapping

# moto's default account: the credentials below act in it, so it plays the management account.
SANDBOX_MANAGEMENT_ACCOUNT = "123456789012"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}
# Where workspaces synthesized for the sandbox go (path-style S3 settings), apart from cdktf.out.
SANDBOX_OUT = Path(".cache") / "sandbox" / "cdktf.out"
# Typed extensions whose resources the emulator cannot serve, and why: a deploy would hang on them.
UNSERVED_EXTENSIONS = {
    "developer-budget": "the emulator does not serve AWS Budgets' DescribeSubscribersForNotification, which the "
                        "provider polls for minutes after creating a budget",
}

# Member accounts that join the sandbox's Organization when bootstrap creates it: id -> (name, email).
_members: dict[str, tuple[str, str]] = {}
_access_role = ["OrganizationAccountAccessRole"]


@dataclass(frozen=True)
class Sandbox:
    endpoint: str
    region: str

    def environment(self) -> dict[str, str]:
        """What a shell needs to point `terraform` and `aws` at the sandbox."""
        return {"AWS_ENDPOINT_URL": self.endpoint, **DUMMY_CREDENTIALS,
                "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}


def correct_conditional_denies() -> None:
    """Make moto treat a Deny statement whose condition keys it has no values for as not applying.

    moto (5.2) passes no condition values (aws:SecureTransport, ...) when it checks a bucket policy,
    and counts a condition it cannot evaluate as met, so a conditional Deny denies every request.
    So the TLS-only policy that bootstrap puts on every state bucket would refuse Terraform's own state
    writes in the sandbox. The policy documents themselves are checked by the tests. Idempotent.
    """
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    if getattr(IAMPolicyStatement.is_action_permitted, "_conditional_deny_corrected", False):
        return
    original = IAMPolicyStatement.is_action_permitted

    def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
        result = original(self, action, resource, principal, incoming_condition_values)
        condition = self._statement.get("Condition") or {}
        keys = {key for operands in condition.values() for key in operands}
        if (result is PermissionResult.DENIED and self._statement.get("Effect") == "Deny" and keys
                and not keys <= set(incoming_condition_values or {})):
            return PermissionResult.NEUTRAL
        return result

    setattr(is_action_permitted, "_conditional_deny_corrected", True)  # patching a library class at run time
    setattr(IAMPolicyStatement, "is_action_permitted", is_action_permitted)


def without_unserved_extensions(organization):
    """``organization`` with the extensions the emulator cannot serve switched off everywhere, and their
    names: every run against the sandbox leaves them out, not only the demo."""
    dropped = sorted({n for a in organization.accounts for n in organization.extensions_for(a)}
                     & set(UNSERVED_EXTENSIONS))
    if not dropped:
        return organization, []
    kept = lambda names: tuple(n for n in names if n not in UNSERVED_EXTENSIONS)  # noqa: E731
    accounts = {a.name: replace(a, extensions=kept(a.extensions)) for a in organization.accounts}
    environments = tuple(replace(e, account=accounts[e.account.name],
                                 providers=tuple(replace(p, account=accounts[p.account.name]) for p in e.providers))
                         for e in organization.environments)
    return replace(organization, settings=replace(organization.settings, extensions=kept(organization.settings.extensions)),
                   accounts=tuple(accounts.values()), environments=environments), dropped


def join_members_on_create(members: Mapping[str, tuple[str, str]], access_role: str) -> None:
    """Make the accounts ``members`` (id -> (name, email)) members of the sandbox's Organization as soon
    as it is created, with their own ids, as existing accounts that accepted an invitation would be.

    moto's Organization starts with the management account only, and create_account invents ids, so
    the example's accounts (fixed ids) would all be "not a member": bootstrap would print invite
    commands and never place them in OUs or attach SCPs. Idempotent; the latest ``members`` count."""
    from moto.organizations.models import FakeAccount, OrganizationsBackend

    _members.clear()
    _members.update(members)
    _access_role[0] = access_role
    if getattr(OrganizationsBackend.create_organization, "_joins_members", False):
        return
    original = OrganizationsBackend.create_organization

    def create_organization(self, region: str, **kwargs):
        result = original(self, region, **kwargs)
        for account_id, (name, email) in sorted(_members.items()):
            if account_id == self.org.master_account_id or any(a.id == account_id for a in self.accounts):
                continue
            member = FakeAccount(self.org, AccountName=name, Email=email)
            member.id = account_id
            member.joined_method = "INVITED"
            self.accounts.append(member)
            _create_access_role(account_id, self.org.master_account_id, _access_role[0])
        return result

    setattr(create_organization, "_joins_members", True)  # as above
    setattr(OrganizationsBackend, "create_organization", create_organization)


def _create_access_role(account_id: str, management_id: str, role_name: str) -> None:
    """The role an invited account's administrators create so the management account can enter it (as
    moto does for the accounts create_account makes)."""
    from moto.iam import iam_backends
    from moto.iam.exceptions import EntityAlreadyExists

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"AWS": f"arn:aws:iam::{management_id}:root"}}]}
    try:
        iam_backends[account_id]["global"].create_role(
            role_name=role_name, assume_role_policy_document=json.dumps(trust), path="/", permissions_boundary=None,
            description="", tags=[], max_session_duration="3600")
    except EntityAlreadyExists:
        pass


def provide_managed_policies(arns: tuple[str, ...]) -> None:
    """Make the AWS managed policies that bootstrap attaches exist in every sandbox account.

    moto knows none unless MOTO_IAM_LOAD_MANAGED_POLICIES is set, and then builds all ~1,300 in every
    account (about 2 s each); the catalogue is cut to the ones needed. Must run before the server starts.
    """
    import moto.iam.models

    names = {arn.rsplit("/", 1)[-1] for arn in arns}
    catalogue = json.loads(moto.iam.models.aws_managed_policies_data)
    moto.iam.models.aws_managed_policies_data = json.dumps({n: catalogue[n] for n in sorted(names) if n in catalogue})
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_sandbox(region: str, keep: bool = False, organization=None) -> Iterator[Sandbox]:
    """Start the emulator, point this process (and every child: terraform) at it, restore afterwards.

    With ``organization``, its accounts that have ids join the sandbox's Organization when bootstrap
    creates it (see join_members_on_create). With ``keep`` the server outlives the block; the caller
    keeps the process alive to serve it.
    """
    from moto.server import ThreadedMotoServer

    from generators.aws.policies import ADMINISTRATOR_ACCESS, READ_ONLY_ACCESS

    provide_managed_policies((ADMINISTRATOR_ACCESS, READ_ONLY_ACCESS))
    correct_conditional_denies()
    if organization is not None:
        join_members_on_create({a.id: (a.name, a.email or f"{a.name}@sandbox.invalid") for a in organization.accounts
                                if a.id and a.id != SANDBOX_MANAGEMENT_ACCOUNT}, organization.settings.access_role)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    sandbox = Sandbox(endpoint=f"http://127.0.0.1:{port}", region=region)
    overrides = {**sandbox.environment(), "AWS_PROFILE": None, "AWS_SESSION_TOKEN": None}
    saved = {name: os.environ.get(name) for name in overrides}
    try:
        for name, value in overrides.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield sandbox
    finally:
        if not keep:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            server.stop()
