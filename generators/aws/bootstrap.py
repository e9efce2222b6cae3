"""Put in place what the generated workspaces rely on, from the management account, with boto3.

In order: the Organization, one organizational unit per account kind, the accounts to be created
(their ids recorded in environments/account-ids.generated.json), the service control policies, and
in every account that holds environments its state bucket, Terraform's deploy and plan roles and,
with a GitHub repository configured, GitHub's OIDC provider.

Every step reads before it writes, so a second run changes nothing and a run interrupted anywhere
converges when run again. What bootstrap owns it reconciles to exactly its own documents: extra
statements in a state bucket's policy, extra policies on the deploy and plan roles are reported and
removed (nothing else is ever deleted). With ``dry_run`` every step reads and reports what it would
change, and nothing is written: the clients of a dry run refuse any call that is not a read.

A step that fails becomes a failed row of the report and the others go on; only a problem that
stops everything (wrong credentials, no Organization) raises ``ToolError``.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from generators import TOOL_NAME, naming
from generators.aws import clients as aws
from generators.aws import policies
from generators.config import account_ids
from generators.config.models import Account, AccountKind, Organization
from generators.errors import ConfigError, ToolError

SESSION_NAME = f"{TOOL_NAME}-bootstrap"
ORGANIZATION_ROW = "organization"  # rows of the Organization itself when no management account is declared

# A dry run's clients allow only calls whose names start so (boto3's snake_case operation names).
READ_CALL_PREFIXES = ("get_", "list_", "describe_", "head_", "can_paginate", "get_paginator")


class Status(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    PRESENT = "present"
    NOT_MEMBER = "not-member"
    FAILED = "failed"


@dataclass(frozen=True)
class Row:
    account: str
    account_id: str | None
    item: str
    status: Status
    detail: str = ""


@dataclass(frozen=True)
class BootstrapReport:
    rows: tuple[Row, ...]
    dry_run: bool = False  # the rows say what would change; nothing was changed

    changed_statuses = (Status.CREATED, Status.UPDATED)

    def with_status(self, *statuses: Status) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if row.status in statuses)

    @property
    def failed(self) -> tuple[Row, ...]:
        return self.with_status(Status.FAILED)

    @property
    def changed(self) -> tuple[Row, ...]:
        return self.with_status(*self.changed_statuses)

    def count(self, status: Status) -> int:
        return len(self.with_status(status))


@dataclass(frozen=True)
class BootstrapRequest:
    organization: Organization
    environments_dir: Path
    account_timeout: float = 600.0  # seconds to wait for one new account
    poll_interval: float = 5.0
    dry_run: bool = False  # read everything, report what would change, write nothing


def bootstrap(request: BootstrapRequest) -> BootstrapReport:
    return _Bootstrap(request).run()


def invite_command(account_id: str) -> str:
    return f"aws organizations invite-account-to-organization --target Id={account_id},Type=ACCOUNT"


class _StepFailed(Exception):
    """A step found something it cannot fix; the message says what and what to do."""


class DryRunWrite(Exception):
    """A dry run reached a call that would write: a bug, stopped before it changed anything."""


class _ReadOnlyClient:
    """A boto3 client that lets reads through and refuses everything else (the safety net of a dry run)."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if callable(attribute) and not name.startswith(READ_CALL_PREFIXES) and not name.startswith("_"):
            def refused(*args, **kwargs):
                raise DryRunWrite(f"dry run: refused to call {name}")
            return refused
        return attribute


AWS_ERRORS = (ClientError, BotoCoreError, DryRunWrite)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{exc.operation_name}: {error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


def _error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def _document(value: Any) -> Any:
    """IAM returns policy documents URL-encoded; boto3 usually decodes them, but not always."""
    return json.loads(unquote(value)) if isinstance(value, str) else value


def _pages(client, operation: str, key: str, **kwargs) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


class _Bootstrap:
    def __init__(self, request: BootstrapRequest):
        self.request = request
        self.organization = request.organization
        self.settings = request.organization.settings
        self.management = next((a for a in self.organization.accounts if a.kind is AccountKind.MANAGEMENT), None)
        self.dry_run = request.dry_run
        self.base = aws.session(self.settings.region)
        self.rows: list[Row] = []
        self.ids: dict[str, str] = {a.name: a.id for a in self.organization.accounts if a.id}
        self.units: dict[AccountKind, str] = {}
        self.created_now: set[str] = set()
        self.caller = ""
        self.root_id = ""

    def client(self, session, service: str):
        client = aws.client(session, service)
        return _ReadOnlyClient(client) if self.dry_run else client

    def run(self) -> BootstrapReport:
        self.caller = self._check_credentials()
        organizations = self.client(self.base, "organizations")
        feature_set = self._organization(organizations)
        if feature_set is None:  # a dry run without an Organization: nothing below it exists to read
            return BootstrapReport(tuple(self.rows), self.dry_run)
        self._units(organizations)
        self._accounts(organizations)
        self._service_control_policies(organizations, feature_set)
        for account in self.organization.accounts:
            if self.organization.environments_in(account) and account.name in self.ids:
                self._account_resources(account, self.ids[account.name])
        return BootstrapReport(tuple(self.rows), self.dry_run)

    # -- rows ----------------------------------------------------------------------------------

    @property
    def organization_row(self) -> str:
        return self.management.name if self.management else ORGANIZATION_ROW

    def _step(self, account: str, item: str, step: Callable[[], tuple[Status, str]],
              account_id: str | None = None) -> Status:
        try:
            status, detail = step()
        except _StepFailed as exc:
            status, detail = Status.FAILED, str(exc)
        except AWS_ERRORS as exc:
            status, detail = Status.FAILED, _error_text(exc)
        self.rows.append(Row(account, account_id or self.ids.get(account), item, status, detail))
        return status

    # -- the caller and the Organization ------------------------------------------------------------

    def _check_credentials(self) -> str:
        try:
            caller = aws.caller_account(self.base)
        except AWS_ERRORS as exc:
            raise ToolError(f"cannot tell which AWS account the credentials act in (sts get-caller-identity): "
                            f"{_error_text(exc)}") from exc
        expected = self.management.id if self.management else None
        if self.management is not None and expected is not None and caller != expected:
            raise ToolError(f"the AWS credentials act in account {caller}, but the configuration's management "
                            f"account '{self.management.name}' is {expected}; run bootstrap with credentials of "
                            f"account {expected}")
        return caller

    def _organization(self, organizations) -> str | None:
        """Describe or create the Organization; anything wrong here stops the run before any change.

        None for a dry run that found no Organization."""
        try:
            try:
                description = organizations.describe_organization()["Organization"]
                status = Status.PRESENT
            except ClientError as exc:
                if _error_code(exc) != "AWSOrganizationsNotInUseException":
                    raise
                if self.dry_run:
                    self.rows.append(Row(self.organization_row, self.caller, "Organization", Status.CREATED,
                                         "with all features; the rest can be previewed once it exists"))
                    return None
                description = organizations.create_organization(FeatureSet="ALL")["Organization"]
                status = Status.CREATED
            if description["MasterAccountId"] != self.caller:
                raise ToolError(f"account {self.caller} is a member of Organization {description['Id']}, whose "
                                f"management account is {description['MasterAccountId']}; run bootstrap with "
                                "credentials of the management account")
            self.root_id = organizations.list_roots()["Roots"][0]["Id"]
        except AWS_ERRORS as exc:
            raise ToolError(f"cannot set up the Organization: {_error_text(exc)}") from exc
        self.rows.append(Row(self.organization_row, self.caller, "Organization", status,
                             f"{description['Id']}, feature set {description['FeatureSet']}"))
        return description["FeatureSet"]

    def _units(self, organizations) -> None:
        kinds = [k for k in AccountKind if k is not AccountKind.MANAGEMENT
                 and any(a.kind is k for a in self.organization.accounts)]
        if not kinds:
            return

        def listing() -> dict[str, str]:
            units = _pages(organizations, "list_organizational_units_for_parent", "OrganizationalUnits",
                           ParentId=self.root_id)
            return {unit["Name"]: unit["Id"] for unit in units}

        try:
            existing = listing()
        except AWS_ERRORS as exc:
            self.rows.append(Row(self.organization_row, self.caller, "organizational units", Status.FAILED,
                                 _error_text(exc)))
            return

        def unit(kind: AccountKind) -> tuple[Status, str]:
            if kind.value in existing:
                self.units[kind] = existing[kind.value]
                return Status.PRESENT, self.units[kind]
            if self.dry_run:
                return Status.CREATED, f"under the root {self.root_id}"
            created = organizations.create_organizational_unit(ParentId=self.root_id, Name=kind.value)
            self.units[kind] = created["OrganizationalUnit"]["Id"]
            return Status.CREATED, self.units[kind]

        for kind in kinds:
            self._step(self.organization_row, f"OU {kind.value}", functools.partial(unit, kind), self.caller)

    # -- accounts --------------------------------------------------------------------------------

    def _accounts(self, organizations) -> None:
        members = [a for a in self.organization.accounts if a.kind is not AccountKind.MANAGEMENT]
        if not members:
            return
        try:
            listed = list(_pages(organizations, "list_accounts", "Accounts"))
        except AWS_ERRORS as exc:
            self.rows.append(Row(self.organization_row, self.caller, "accounts", Status.FAILED, _error_text(exc)))
            return
        by_id = {a["Id"] for a in listed}
        by_email = {a["Email"].lower(): a["Id"] for a in listed}
        for account in members:
            self._step(account.name, "account",
                       functools.partial(self._membership, organizations, account, by_id, by_email))

    def _membership(self, organizations, account: Account, member_ids: set[str],
                    member_emails: dict[str, str]) -> tuple[Status, str]:
        account_id = self.ids.get(account.name)
        if account_id is not None and account_id not in member_ids:
            return Status.NOT_MEMBER, f"not a member of the Organization; invite it: {invite_command(account_id)}"
        notes: list[str] = []
        status = Status.PRESENT
        if account_id is None:
            account_id = member_emails.get((account.email or "").lower())
            if account_id is not None:  # an earlier run created it but stopped before recording its id
                status, note = Status.UPDATED, f"found member {account_id} by its email"
            elif self.dry_run:
                return Status.CREATED, (f"{account.email}, in OU {account.kind.value}, id recorded in "
                                        f"{account_ids.FILE_NAME}")
            else:
                account_id = self._create_account(organizations, account)
                self.created_now.add(account.name)
                status, note = Status.CREATED, f"created {account_id}"
            self.ids[account.name] = account_id
            notes.append(note)
            if self.dry_run:
                notes.append(f"id to be recorded in {account_ids.FILE_NAME}")
                moved = self._place(organizations, account, account_id)
                notes.append(f"moved into OU {account.kind.value}" if moved else f"in OU {account.kind.value}")
                return status, "; ".join(notes)
            try:
                account_ids.record(self.request.environments_dir, {account.name: account_id})
            except (OSError, ConfigError) as exc:
                raise _StepFailed(f"{note}, but could not record its id in {account_ids.FILE_NAME} ({exc}); the next "
                                  "run finds the account by its email and records it") from exc
            notes.append(f"id recorded in {account_ids.FILE_NAME}")
        moved = self._place(organizations, account, account_id)
        notes.append(f"moved into OU {account.kind.value}" if moved else f"in OU {account.kind.value}")
        if moved and status is Status.PRESENT:
            status = Status.UPDATED
        return status, "; ".join(notes)

    def _create_account(self, organizations, account: Account) -> str:
        # An earlier run may have asked for this account and stopped before it was ready: wait for that request.
        pending = [s for s in _pages(organizations, "list_create_account_status", "CreateAccountStatuses",
                                     States=["IN_PROGRESS"]) if s["AccountName"] == account.name]
        status = pending[0] if pending else organizations.create_account(
            Email=account.email, AccountName=account.name, RoleName=self.settings.access_role)["CreateAccountStatus"]
        timeout = self.request.account_timeout
        deadline = time.monotonic() + timeout
        while status["State"] == "IN_PROGRESS":
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _StepFailed(f"still being created after {timeout:g} s (request {status['Id']}); run "
                                  "bootstrap again to wait for it")
            time.sleep(min(self.request.poll_interval, remaining))
            status = organizations.describe_create_account_status(
                CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
        if status["State"] != "SUCCEEDED":
            raise _StepFailed(f"account creation failed: {status.get('FailureReason', 'no reason given')}")
        return status["AccountId"]

    def _place(self, organizations, account: Account, account_id: str) -> bool:
        """Move the account into its kind's OU; True when it had to be moved."""
        target = self.units.get(account.kind)
        if target is None and self.dry_run:
            return True  # its OU is to be created, so it would be moved there
        if target is None:
            raise _StepFailed(f"member {account_id}, but OU {account.kind.value} is not available (see its row)")
        parent = organizations.list_parents(ChildId=account_id)["Parents"][0]["Id"]
        if parent == target:
            return False
        if self.dry_run:
            return True
        organizations.move_account(AccountId=account_id, SourceParentId=parent, DestinationParentId=target)
        return True

    # -- service control policies -------------------------------------------------------------------

    def _service_control_policies(self, organizations, feature_set: str) -> None:
        row = self.organization_row
        if feature_set != "ALL":
            self.rows.append(Row(row, self.caller, "service control policies", Status.FAILED,
                                 f"the Organization has feature set {feature_set}; enable all features "
                                 "(aws organizations enable-all-features) and run bootstrap again"))
            return
        if self._step(row, "service control policies", functools.partial(self._enable_policy_type, organizations),
                      self.caller) is Status.FAILED:
            return
        for scp in policies.service_control_policies(self.settings):
            self._step(row, f"SCP {scp.name}", functools.partial(
                self._policy, organizations, scp.name, scp.description, scp.document, self._targets(scp)),
                self.caller)

    def _targets(self, scp: policies.ServiceControlPolicy) -> list[tuple[str | None, str]]:
        """(target id, label) of each place ``scp`` goes; no id for an OU a dry run would create."""
        targets: list[tuple[str | None, str]] = []
        for target in scp.targets:
            if target == policies.ROOT:
                targets.append((self.root_id, "root"))
                continue
            kind = AccountKind(target)
            if kind in self.units:
                targets.append((self.units[kind], f"OU {target}"))
            elif self.dry_run and any(a.kind is kind for a in self.organization.accounts):
                targets.append((None, f"OU {target} (to be created)"))
        return targets

    def _enable_policy_type(self, organizations) -> tuple[Status, str]:
        root = next(r for r in organizations.list_roots()["Roots"] if r["Id"] == self.root_id)
        if any(t["Type"] == "SERVICE_CONTROL_POLICY" and t["Status"] == "ENABLED" for t in root.get("PolicyTypes", [])):
            return Status.PRESENT, "enabled on the root"
        if not self.dry_run:
            organizations.enable_policy_type(RootId=self.root_id, PolicyType="SERVICE_CONTROL_POLICY")
        return Status.CREATED, "enabled on the root"

    def _policy(self, organizations, name: str, description: str, document: dict[str, Any],
                targets: list[tuple[str | None, str]]) -> tuple[Status, str]:
        found = next((p for p in _pages(organizations, "list_policies", "Policies", Filter="SERVICE_CONTROL_POLICY")
                      if p["Name"] == name), None)
        changes: list[str] = []
        policy_id: str | None = None
        if found is None:
            if not self.dry_run:
                policy_id = organizations.create_policy(
                    Name=name, Description=description, Type="SERVICE_CONTROL_POLICY",
                    Content=policies.compact(document))["Policy"]["PolicySummary"]["Id"]
        else:
            policy_id = found["Id"]
            content = organizations.describe_policy(PolicyId=policy_id)["Policy"]["Content"]
            if not policies.same_policy(json.loads(content), document):
                if not self.dry_run:
                    organizations.update_policy(PolicyId=policy_id, Content=policies.compact(document))
                changes.append("content updated")
            if found.get("Description", description) != description:
                if not self.dry_run:
                    organizations.update_policy(PolicyId=policy_id, Description=description)
                changes.append("description updated")
        attached = set() if policy_id is None else {
            t["TargetId"] for t in _pages(organizations, "list_targets_for_policy", "Targets", PolicyId=policy_id)}
        for target_id, label in targets:
            if target_id is None or target_id not in attached:
                if not self.dry_run:
                    organizations.attach_policy(PolicyId=policy_id, TargetId=target_id)
                changes.append(f"attached to {label}")
        if found is None:
            return Status.CREATED, ", ".join(changes)
        if changes:
            return Status.UPDATED, ", ".join(changes)
        return Status.PRESENT, ("attached to " + ", ".join(label for _, label in targets)) if targets else ""

    # -- inside each account that holds environments ------------------------------------------------

    def _account_resources(self, account: Account, account_id: str) -> None:
        access_role = naming.role_arn(account_id, self.settings.access_role)
        try:
            # The management account is entered with the caller's own credentials: it has no access role.
            session = self.base if account_id == self.caller else aws.assume_role_session(
                self.base, access_role, SESSION_NAME, self.settings.region)
        except AWS_ERRORS as exc:
            hint = ("; a new account's access role can take a few minutes to be usable: run bootstrap again"
                    if account.name in self.created_now else "")
            self.rows.append(Row(account.name, account_id, "access", Status.FAILED,
                                 f"cannot assume {access_role}: {_error_text(exc)}{hint}"))
            return
        bucket = naming.state_bucket(self.organization.name, account_id)
        iam = self.client(session, "iam")
        self._step(account.name, "state bucket", functools.partial(
            self._state_bucket, session, bucket, policies.state_bucket_policy(bucket, account_id, self.settings)),
            account_id)
        if self.settings.github_repository:
            self._step(account.name, "GitHub OIDC provider",
                       functools.partial(self._github_provider, iam, account_id), account_id)
        deploy_trust = policies.deploy_trust_policy(self.settings, account_id, self.caller, account.kind)
        plan_trust = policies.plan_trust_policy(self.settings, account_id, self.caller)
        self._step(account.name, f"role {self.settings.deploy_role}", functools.partial(
            self._role, iam, self.settings.deploy_role, deploy_trust, (policies.ADMINISTRATOR_ACCESS,), {},
            "Terraform apply"), account_id)
        self._step(account.name, f"role {self.settings.plan_role}", functools.partial(
            self._role, iam, self.settings.plan_role, plan_trust, (),
            policies.plan_inline_policies(bucket, self.settings.region),
            "Terraform plan: reads configuration and state, no data, writes nothing"), account_id)

    def _state_bucket(self, session, bucket: str, policy: dict[str, Any]) -> tuple[Status, str]:
        s3 = self.client(session, "s3")
        region = self.settings.region
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            if self.dry_run:
                return Status.CREATED, (f"{bucket} in {region}: versioned, encrypted, public access blocked, "
                                        "BucketOwnerEnforced, TLS only, state for the tool's roles only")
            created = self._create_bucket(s3, bucket, region)
        else:
            created = False
            location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
            if location != region:
                raise _StepFailed(f"the bucket is in {location}, but the workspaces expect it in {region}")
        apply = not self.dry_run
        settings = (_versioning, _encryption, _public_access_block, _ownership,
                    functools.partial(_bucket_policy, wanted=policy))
        changes = [change for setting in settings if (change := setting(s3, bucket, apply))]
        if created:
            return Status.CREATED, (f"{bucket} in {region}: versioned, encrypted, public access blocked, "
                                    "BucketOwnerEnforced, TLS only, state for the tool's roles only")
        return (Status.UPDATED, f"{bucket}: {', '.join(changes)}") if changes else (Status.PRESENT, bucket)

    def _create_bucket(self, s3, bucket: str, region: str) -> bool:
        arguments: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":  # us-east-1 is the default and refuses an explicit LocationConstraint
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            s3.create_bucket(**arguments)
        except ClientError as exc:
            if _error_code(exc) == "BucketAlreadyOwnedByYou":
                return False
            if _error_code(exc) == "BucketAlreadyExists":
                raise _StepFailed(f"the name {bucket} is taken by a bucket of another AWS account") from exc
            raise
        return True

    def _github_provider(self, iam, account_id: str) -> tuple[Status, str]:
        arn = policies.github_oidc_provider_arn(account_id)
        providers = {p["Arn"] for p in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", [])}
        if arn not in providers:
            # No thumbprint: IAM verifies GitHub's certificate against its trusted root CAs itself.
            if not self.dry_run:
                iam.create_open_id_connect_provider(Url=policies.GITHUB_OIDC_URL,
                                                    ClientIDList=[policies.GITHUB_AUDIENCE])
            return Status.CREATED, f"{policies.GITHUB_OIDC_URL}, audience {policies.GITHUB_AUDIENCE}"
        audiences = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn).get("ClientIDList", [])
        if policies.GITHUB_AUDIENCE not in audiences:
            if not self.dry_run:
                iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                              ClientID=policies.GITHUB_AUDIENCE)
            return Status.UPDATED, f"audience {policies.GITHUB_AUDIENCE} added"
        return Status.PRESENT, ""

    def _role(self, iam, name: str, trust: dict[str, Any], managed: tuple[str, ...],
              inline: dict[str, dict[str, Any]], purpose: str) -> tuple[Status, str]:
        """The role with exactly this trust, these managed policies and these inline policies."""
        try:
            role = iam.get_role(RoleName=name)["Role"]
        except ClientError as exc:
            if _error_code(exc) != "NoSuchEntity":
                raise
            role = None
        apply = not self.dry_run
        changes: list[str] = []
        if role is None:
            if apply:
                # IAM refuses a trust policy naming a role that does not exist yet: the role's trust
                # in itself is added once it exists.
                iam.create_role(RoleName=name,
                                AssumeRolePolicyDocument=json.dumps(policies.without_self_trust(trust)),
                                Description=f"{purpose}; managed by {TOOL_NAME} bootstrap")
                if policies.without_self_trust(trust) != trust:
                    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
            attached: set[str] = set()
            current_inline: set[str] = set()
        else:
            if not policies.same_policy(_document(role["AssumeRolePolicyDocument"]), trust):
                if apply:
                    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
                changes.append("trust policy updated")
            attached = {p["PolicyArn"] for p in _pages(iam, "list_attached_role_policies", "AttachedPolicies",
                                                        RoleName=name)}
            current_inline = set(_pages(iam, "list_role_policies", "PolicyNames", RoleName=name))
        for arn in sorted(attached - set(managed)):  # privileges someone added, or ReadOnlyAccess of old
            if apply:
                iam.detach_role_policy(RoleName=name, PolicyArn=arn)
            changes.append(f"{arn.rsplit('/', 1)[-1]} detached")
        for arn in managed:
            if arn not in attached:
                if apply:
                    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
                changes.append(f"{arn.rsplit('/', 1)[-1]} attached")
        for policy_name in sorted(current_inline - set(inline)):
            if apply:
                iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
            changes.append(f"inline policy {policy_name} removed")
        for policy_name, document in inline.items():
            current = None
            if policy_name in current_inline:
                current = _document(iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
            if current is None or not policies.same_policy(current, document):
                if apply:
                    iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
                changes.append(f"inline policy {policy_name} {'set' if current is None else 'updated'}")
        if role is None:
            trusted = [", ".join(s["Principal"]["AWS"]) if "AWS" in s["Principal"] else "GitHub Actions"
                       for s in policies.without_self_trust(trust)["Statement"]]
            policy_names = " + ".join([*(arn.rsplit("/", 1)[-1] for arn in managed), *inline])
            return Status.CREATED, f"{policy_names}; trusts {', '.join(trusted)}"
        return (Status.UPDATED, ", ".join(changes)) if changes else (Status.PRESENT, "")


# -- state bucket settings: each reads first and returns what it changed (or, with apply False, would
# change), or None ---------------------------------------------------------------------------------------

def _versioning(s3, bucket: str, apply: bool) -> str | None:
    if s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled":
        return None
    if apply:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return "versioning enabled"


def _encryption(s3, bucket: str, apply: bool) -> str | None:
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if _error_code(exc) != "ServerSideEncryptionConfigurationNotFoundError":
            raise
        rules = []
    # Any default encryption will do: a bucket already on KMS is not downgraded to SSE-S3.
    if any(rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules):
        return None
    if apply:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    return "default encryption set (AES256)"


BLOCK_ALL_PUBLIC_ACCESS = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                           "RestrictPublicBuckets": True}


def _public_access_block(s3, bucket: str, apply: bool) -> str | None:
    try:
        current = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if _error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            raise
        current = {}
    if all(current.get(setting) is True for setting in BLOCK_ALL_PUBLIC_ACCESS):
        return None
    if apply:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=BLOCK_ALL_PUBLIC_ACCESS)
    return "public access blocked"


def _ownership(s3, bucket: str, apply: bool) -> str | None:
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    except ClientError as exc:
        if _error_code(exc) != "OwnershipControlsNotFoundError":
            raise
        rules = []
    if [rule.get("ObjectOwnership") for rule in rules] == ["BucketOwnerEnforced"]:
        return None
    if apply:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
            "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    return "ownership set to BucketOwnerEnforced"


def _bucket_policy(s3, bucket: str, apply: bool, wanted: dict[str, Any]) -> str | None:
    """Exactly ``wanted``: any other statement (someone granting access to state) is removed."""
    try:
        current = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if _error_code(exc) != "NoSuchBucketPolicy":
            raise
        current = None
    if current is not None and policies.same_policy(current, wanted):
        return None
    if apply:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(wanted))
    if current is None:
        return "bucket policy set"
    ours = [policies.canonical(s) for s in policies.statements_of(wanted)]
    extra = [policies.statement_label(s) for s in policies.statements_of(current) if policies.canonical(s) not in ours]
    present = [policies.canonical(s) for s in policies.statements_of(current)]
    missing = [policies.statement_label(s) for s in policies.statements_of(wanted) if policies.canonical(s) not in present]
    parts = [f"removed statement{'s' if len(extra) > 1 else ''} {', '.join(extra)}"] if extra else []
    if missing:
        parts.append(f"restored {', '.join(missing)}")
    return "bucket policy: " + "; ".join(parts)
