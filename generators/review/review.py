"""Pull-request plan review: what each planned environment would change, what is dangerous, what is orphaned.

``build_review`` turns a plan run (``runner.run`` with action "plan") into a ``Review``:

* per environment, grouped by account: the account Terraform verified (the provider's
  ``allowed_account_ids``, which the AWS provider checks against the assumed identity before it plans,
  so a successful plan proves it), the role, resources to add / change / destroy / replace, and the
  destroyed or replaced addresses;
* flags: destroying or replacing a resource of a ``STATEFUL_RESOURCE_TYPES`` type is "critical" in
  production and staging accounts, a "warning" elsewhere; any other change in production is a
  "notice";
* orphans: state objects in the organization's state buckets whose environment is no longer defined,
  with their resource counts, so a deleted environment file never silently strands resources.

Only addresses, types, actions and output names are read from the rendered plan: never before/after
values, so sensitive values cannot reach the review. For ``deploy --expect-review``, each environment
also records its saved plan's SHA-256 and its change set, where values appear only as SHA-256 digests
of whole before/after objects (generators/review/plan_changes.py). ``review_render`` turns a review into text (markdown for
the pull request, JSON for machines); ``orphans`` searches the state buckets; only the CLI writes or
prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping

from generators.config.models import AccountKind, Organization
from generators.errors import ToolError
from generators.review.orphans import Orphan, ScanProblem, find_orphans
from generators.review.plan_changes import ChangeSet, change_set
from generators.run.model import Result, RunReport, WorkspaceResult

# Resource types whose destruction loses data (or, for KMS keys, makes data unreadable): destroying or
# replacing one is flagged. The one list; exact type names, so a flag is never a prefix accident.
# Deliberately absent: aws_ssm_parameter (its value is set by the configuration, so Terraform recreates
# it identically: flagging every parameter rename would drown the real dangers; secrets written outside
# Terraform belong in aws_secretsmanager_secret, which is listed) and aws_cloudwatch_log_group, caches
# (aws_dax_cluster), and stream or queue front-ends without their own retention (Firehose).
STATEFUL_RESOURCE_TYPES = frozenset({
    # databases and tables
    "aws_dynamodb_table", "aws_dynamodb_global_table",
    "aws_db_instance", "aws_rds_cluster", "aws_rds_global_cluster",
    "aws_docdb_cluster", "aws_docdb_elastic_cluster", "aws_neptune_cluster",
    "aws_redshift_cluster", "aws_redshiftserverless_namespace",
    "aws_elasticache_cluster", "aws_elasticache_replication_group", "aws_elasticache_serverless_cache",
    "aws_memorydb_cluster", "aws_keyspaces_keyspace", "aws_keyspaces_table",
    "aws_timestream_database", "aws_timestream_table", "aws_qldb_ledger",
    "aws_opensearch_domain", "aws_elasticsearch_domain", "aws_opensearchserverless_collection",
    # object, file and block storage
    "aws_s3_bucket", "aws_s3_directory_bucket", "aws_glacier_vault",
    "aws_efs_file_system", "aws_ebs_volume", "aws_ebs_snapshot",
    "aws_fsx_lustre_file_system", "aws_fsx_ontap_file_system", "aws_fsx_ontap_volume",
    "aws_fsx_openzfs_file_system", "aws_fsx_openzfs_volume", "aws_fsx_windows_file_system", "aws_fsx_backup",
    "aws_backup_vault", "aws_ecr_repository",
    # keys, secrets and identities
    "aws_kms_key", "aws_kms_external_key", "aws_secretsmanager_secret", "aws_cognito_user_pool",
    # streams and queues (messages not yet consumed)
    "aws_kinesis_stream", "aws_sqs_queue", "aws_msk_cluster", "aws_msk_serverless_cluster", "aws_mq_broker",
})



class Severity(str, Enum):
    CRITICAL = "critical"  # stateful resource destroyed or replaced in production or staging
    WARNING = "warning"  # stateful resource destroyed or replaced elsewhere
    NOTICE = "notice"  # any other change in production

    @property
    def is_danger(self) -> bool:
        return self is not Severity.NOTICE


_SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.NOTICE: 2}


@dataclass(frozen=True)
class ResourceChange:
    address: str
    type: str
    action: str  # create | update | delete | replace | forget; anything else Terraform's actions joined by "-"
    reason: str = ""  # Terraform's action_reason, e.g. replace_because_cannot_update


@dataclass(frozen=True)
class Flag:
    severity: Severity
    environment: str
    account: str
    account_id: str
    reason: str
    address: str = ""  # empty for a flag about the environment as a whole
    type: str = ""
    action: str = ""


@dataclass(frozen=True)
class PlanSummary:
    """What ``plan.json`` says, reduced to what the review may show: no values."""

    changes: tuple[ResourceChange, ...] = ()
    output_changes: tuple[str, ...] = ()  # names of root outputs whose value changes
    account_ids: tuple[str, ...] = ()  # the default provider's allowed_account_ids


@dataclass(frozen=True)
class EnvironmentReview:
    environment: str
    account: str
    account_id: str
    kind: str  # the account kind
    role: str
    role_arn: str
    result: str  # runner.Result value
    message: str = ""
    account_verified: bool = False  # account_id is what Terraform enforced, read from the plan
    changes: tuple[ResourceChange, ...] = ()
    output_changes: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()
    # What `deploy --expect-review` holds a deploy to: the saved plan's checksum and its change set
    # (addresses, actions, digests of before/after; review/plan_changes.py).
    plan_file: str = ""
    plan_sha256: str = ""
    change_set: ChangeSet = ()

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def add(self) -> int:
        return self.count("create")

    @property
    def change(self) -> int:
        return self.count("update")

    @property
    def destroy(self) -> int:
        return self.count("delete")

    @property
    def replace(self) -> int:
        return self.count("replace")

    @property
    def destroyed(self) -> tuple[str, ...]:
        return tuple(c.address for c in self.changes if c.action == "delete")

    @property
    def replaced(self) -> tuple[str, ...]:
        return tuple(c.address for c in self.changes if c.action == "replace")

    @property
    def failed(self) -> bool:
        return self.result != Result.OK.value

    @property
    def danger(self) -> bool:
        return any(f.severity.is_danger for f in self.flags)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.output_changes)

    @property
    def severity(self) -> Severity | None:
        """The most severe flag's severity, None without flags."""
        return min((f.severity for f in self.flags), key=_SEVERITY_ORDER.__getitem__, default=None)

    @property
    def status(self) -> str:
        """failed, skipped, refused, danger, changes or unchanged."""
        if self.failed:
            return self.result
        if self.danger:
            return "danger"
        return "changes" if self.has_changes else "unchanged"

    @property
    def summary(self) -> str:
        """"1 to add, 2 to destroy", "only outputs change", "no changes", or why it did not plan."""
        if self.failed:
            return f"{self.result}: {self.message}" if self.message else self.result
        parts = [f"{n} to {word}" for n, word in ((self.add, "add"), (self.change, "change"),
                                                  (self.destroy, "destroy"), (self.replace, "replace")) if n]
        others = len(self.changes) - self.add - self.change - self.destroy - self.replace
        if others:
            parts.append(f"{others} other")
        if parts:
            return ", ".join(parts)
        return "only outputs change" if self.output_changes else "no changes"


@dataclass(frozen=True)
class AccountGroup:
    account: str
    account_id: str
    kind: str
    environments: tuple[EnvironmentReview, ...]


@dataclass(frozen=True)
class Review:
    role: str
    environments: tuple[EnvironmentReview, ...]  # sorted by account, then environment
    orphans: tuple[Orphan, ...] = ()
    scan_problems: tuple[ScanProblem, ...] = ()
    orphans_scanned: bool = True

    @property
    def flags(self) -> tuple[Flag, ...]:
        flags = [f for e in self.environments for f in e.flags]
        return tuple(sorted(flags, key=lambda f: (_SEVERITY_ORDER[f.severity], f.account, f.environment,
                                                  f.address)))

    @property
    def dangers(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if f.severity.is_danger)

    @property
    def notices(self) -> tuple[Flag, ...]:
        return tuple(f for f in self.flags if not f.severity.is_danger)

    @property
    def has_danger(self) -> bool:
        return bool(self.dangers)

    @property
    def failed(self) -> tuple[EnvironmentReview, ...]:
        return tuple(e for e in self.environments if e.failed)

    @property
    def accounts(self) -> tuple[AccountGroup, ...]:
        groups: dict[str, list[EnvironmentReview]] = {}
        for environment in self.environments:
            groups.setdefault(environment.account, []).append(environment)
        return tuple(AccountGroup(name, members[0].account_id, members[0].kind, tuple(members))
                     for name, members in groups.items())

    def counts(self) -> dict[str, int]:
        statuses = [e.status for e in self.environments]
        return {
            "environments": len(self.environments),
            "failed": sum(1 for e in self.environments if e.failed),
            "danger": statuses.count("danger"),
            "changes": statuses.count("changes"),
            "unchanged": statuses.count("unchanged"),
            "orphans": len(self.orphans),
        }

    @property
    def headline(self) -> str:
        """"3 environments planned: 1 with danger, 2 to change": each environment counted once."""
        counts = self.counts()
        total = counts["environments"]
        parts = [f"{n} {label}" for n, label in ((counts["failed"], "failed"), (counts["danger"], "with danger"),
                                                  (counts["changes"], "to change"),
                                                  (counts["unchanged"], "unchanged")) if n]
        text = f"{total} environment{'s' if total != 1 else ''} planned"
        text += f": {', '.join(parts)}" if parts else ""
        if self.orphans:
            text += f"; {len(self.orphans)} orphaned state{'s' if len(self.orphans) != 1 else ''}"
        return text


# -- reading a plan ----------------------------------------------------------------------------------


def action_of(actions: Iterable[str]) -> str | None:
    """One word for Terraform's action list; None for no-op and read (nothing changes)."""
    actions = list(actions)
    if actions in (["delete", "create"], ["create", "delete"]):
        return "replace"
    if actions in ([], ["no-op"], ["read"]):
        return None
    return "-".join(actions)


def summarize_plan(plan: Mapping[str, Any]) -> PlanSummary:
    """Addresses, types and actions of ``terraform show -json``'s output; never a value."""
    changes = []
    for entry in plan.get("resource_changes") or ():
        if entry.get("mode") != "managed":
            continue  # data sources are read, never changed
        action = action_of((entry.get("change") or {}).get("actions") or ())
        if action is not None:
            changes.append(ResourceChange(str(entry.get("address", "")), str(entry.get("type", "")), action,
                                          str(entry.get("action_reason", ""))))
    outputs = tuple(sorted(name for name, change in (plan.get("output_changes") or {}).items()
                           if action_of((change or {}).get("actions") or ()) is not None))
    provider = ((plan.get("configuration") or {}).get("provider_config") or {}).get("aws") or {}
    allowed = ((provider.get("expressions") or {}).get("allowed_account_ids") or {}).get("constant_value") or ()
    return PlanSummary(tuple(sorted(changes, key=lambda c: c.address)), outputs,
                       tuple(str(a) for a in allowed) if isinstance(allowed, list) else ())


def flags_for(environment: str, account: str, account_id: str, kind: AccountKind,
              changes: Iterable[ResourceChange], output_changes: Iterable[str] = ()) -> tuple[Flag, ...]:
    """Danger flags for destroyed or replaced stateful resources; a notice for the rest of a production plan."""
    flags: list[Flag] = []
    unflagged: list[ResourceChange] = []
    severity = Severity.CRITICAL if kind.is_protected else Severity.WARNING
    for change in changes:
        if change.type in STATEFUL_RESOURCE_TYPES and change.action in ("delete", "replace"):
            verb = "destroys" if change.action == "delete" else "replaces"
            flags.append(Flag(severity, environment, account, account_id,
                              f"{verb} a stateful {change.type} in a {kind.value} account", change.address,
                              change.type, change.action))
        else:
            unflagged.append(change)
    output_changes = tuple(output_changes)
    if kind is AccountKind.PRODUCTION and (unflagged or output_changes):
        counts: dict[str, int] = {}
        for change in unflagged:
            counts[change.action] = counts.get(change.action, 0) + 1
        words = {"create": "to add", "update": "to change", "delete": "to destroy", "replace": "to replace"}
        parts = [f"{n} {words.get(action, action)}" for action, n in counts.items()]
        if output_changes:
            parts.append(f"{len(output_changes)} output{'s' if len(output_changes) != 1 else ''} to change")
        flags.append(Flag(Severity.NOTICE, environment, account, account_id,
                          f"production changes{' besides the flagged ones' if flags else ''}: {', '.join(parts)}"))
    return tuple(flags)


def review_environment(organization: Organization, result: WorkspaceResult) -> EnvironmentReview:
    environment = organization.environment(result.environment)
    account = environment.account
    base = EnvironmentReview(
        environment=result.environment, account=account.name, account_id=account.id or "",
        kind=account.kind.value, role=result.role, role_arn=organization.role_arn(account, result.role),
        result=result.result.value, message=result.message)
    if result.result is not Result.OK:
        return base
    base = replace(base, plan_file=str(result.plan_file or ""), plan_sha256=result.plan_sha256)
    if result.plan_json is None:
        if result.action == "plan" and not result.has_changes:
            # Nothing to do, so nothing was rendered; the plan succeeded, so the provider did check the
            # account it was in against allowed_account_ids.
            return replace(base, account_verified=True)
        return replace(base, result=Result.FAILED.value, message="the plan was not saved (no plan.json)")
    try:
        plan = json.loads(Path(result.plan_json).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return replace(base, result=Result.FAILED.value, message=f"cannot read {result.plan_json}: {exc}")
    summary = summarize_plan(plan)
    flags = flags_for(environment.name, account.name, account.id or "", account.kind, summary.changes,
                      summary.output_changes)
    verified = bool(summary.account_ids)
    if verified and summary.account_ids != (account.id,):
        # Cannot happen with generated workspaces; a hand-edited one must not pass unnoticed.
        flags = (Flag(Severity.CRITICAL, environment.name, account.name, account.id or "",
                      f"planned for account {', '.join(summary.account_ids)}, but {environment.name} is defined in "
                      f"{account.name} ({account.id})"),) + flags
    return replace(base, account_id=summary.account_ids[0] if verified else base.account_id,
                   account_verified=verified, changes=summary.changes, output_changes=summary.output_changes,
                   flags=flags, change_set=change_set(plan))


# -- the review ------------------------------------------------------------------------------------


def build_review(organization: Organization, report: RunReport, scan_orphans: bool = True) -> Review:
    """The review of a plan run; searches the state buckets for orphans with the run's role."""
    if report.action != "plan":
        raise ToolError(f"a review needs a plan run, not {report.action}")
    environments = sorted((review_environment(organization, r) for r in report.results),
                          key=lambda e: (e.account, e.environment))
    orphans, problems = find_orphans(organization, report.role) if scan_orphans else ((), ())
    return Review(role=report.role, environments=tuple(environments), orphans=orphans, scan_problems=problems,
                  orphans_scanned=scan_orphans)


