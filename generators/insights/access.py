"""`access`: who can plan and deploy where, read live from the roles' trust policies.

For every account holding environments, the tool's deploy and plan roles are read with IAM GetRole
(entered through the access role) and every principal their trust policies admit becomes a row of a
principals x accounts matrix (none / plan / deploy). Violations, each one exit 1:

    not-ci            a principal other than the CI principals can deploy production. CI principals
                      are organization.deploy_principals, and the GitHub OIDC provider when every
                      `sub` it admits is in organization.github_repository.
    unconditioned     a principal can deploy production through a statement with neither an MFA
                      condition (aws:MultiFactorAuthPresent / aws:MultiFactorAuthAge) nor a `sub`
                      pinned to one git ref or one GitHub environment. An IAM role named in
                      deploy_principals passes only while no plan role trusts it: a role session
                      carries neither MFA nor a git ref, so its gate is its own trust policy, outside
                      the scanned accounts.
    development-reads-production
                      a principal of a development or developer account (or anyone, `*`) is trusted
                      by production's plan or deploy role, and so can read production's state.
    plans-and-deploys a principal or GitHub subject trusted by a plan role (what pull requests plan
                      with) is also trusted by a production or staging deploy role; an account root
                      covers every principal of its account, `*` covers everyone.
    pull-request-deploys
                      a deploy role outside development accounts trusts a GitHub `sub` that a job
                      running unreviewed code can present: a pull request's, an arbitrary branch's
                      (anyone with push access), or an arbitrary environment's (a job may name one
                      that has no protection rules), wildcards and a missing `sub` included.

A missing role is reported, not a violation (the account is not bootstrapped yet). Trust policies
are read as written; explicit Deny statements without conditions remove the principals they name. A
role trusting itself (bootstrap's RoleItself statement) admits nobody new and is left out.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import unquote

from generators.aws import clients as aws
from generators.config.models import Account, AccountKind, Organization
from generators.insights import (DEVELOPMENT_KINDS, AccountRef, accounts_with_environments, aws_failure, member_session,
                                 ref)

NONE, PLAN, DEPLOY = "none", "plan", "deploy"
LEVEL_RANK = {NONE: 0, PLAN: 1, DEPLOY: 2}
ASSUME_ACTIONS = ("sts:assumerole", "sts:assumerolewithwebidentity", "sts:assumerolewithsaml")
GITHUB_OIDC = "token.actions.githubusercontent.com"
GITHUB_SUB = f"{GITHUB_OIDC}:sub"
# A GitHub `sub` pinned to one branch or tag (repo:OWNER/REPO:ref:refs/heads/NAME) or to one GitHub
# environment (repo:OWNER/REPO:environment:NAME, gated by that environment's protection rules), no wildcards.
PINNED_SUB = re.compile(r"^repo:[^:*?]+/[^:*?]+:(ref:refs/(heads|tags)/[^*?]+|environment:[^*?]+)$")
ACCOUNT_IN_ARN = re.compile(r"^arn:[a-z-]+:(?:iam|sts)::([0-9]{12}):")
MAX_WORKERS = 8

NOT_CI = "not-ci"
UNCONDITIONED = "unconditioned"
DEVELOPMENT_READS_PRODUCTION = "development-reads-production"
PLANS_AND_DEPLOYS = "plans-and-deploys"
PULL_REQUEST_DEPLOYS = "pull-request-deploys"
PROTECTED_KINDS = (AccountKind.PRODUCTION.value, AccountKind.STAGING.value)

# What each rule checked, said by its "ok" line when nothing broke it.
CHECKS = (
    (NOT_CI, "production's deploy role trusts only deploy_principals and the configured repository's GitHub subjects"),
    (UNCONDITIONED, "each of those requires MFA or a `sub` pinned to one git ref or GitHub environment, or is a "
                    "deploy-principal role that no plan role trusts (that role's own trust is outside the scanned "
                    "accounts and was not read)"),
    (DEVELOPMENT_READS_PRODUCTION, "no principal of a development or developer account, and not anyone (*), is "
                                   "trusted by production's plan or deploy role"),
    (PLANS_AND_DEPLOYS, "no principal or GitHub subject trusted by a plan role is trusted by a production or staging "
                        "deploy role (account roots and * counted as covering their principals)"),
    (PULL_REQUEST_DEPLOYS, "no deploy role outside development accounts trusts a GitHub subject that a pull request, "
                           "an arbitrary branch or an unprotected GitHub environment can present (an environment "
                           "subject relies on that environment's protection rules in GitHub: see `ci github`)"),
)


@dataclass(frozen=True)
class Grant:
    """One principal admitted by one trust statement."""

    principal: str  # as the matrix shows it (see principal_label)
    type: str  # AWS, Federated, Service, or * (anyone)
    arn: str  # the principal as written (bare account ids expanded to :root)
    account_id: str | None  # the account the principal belongs to, when it has one
    mfa: bool  # the statement requires MFA
    pinned_ref: bool  # the statement pins the GitHub `sub` to one branch or tag
    subjects: tuple[str, ...]  # the GitHub `sub` values admitted, for federated principals
    statement: str  # the statement's Sid, or its position


@dataclass(frozen=True)
class RoleTrust:
    account: AccountRef
    role: str
    level: str  # what assuming this role gives: plan or deploy
    arn: str
    exists: bool
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class MatrixRow:
    principal: str
    levels: tuple[str, ...]  # one per AccessReport.accounts


@dataclass(frozen=True)
class Violation:
    rule: str
    account: AccountRef
    role: str
    principal: str
    message: str


@dataclass(frozen=True)
class Check:
    rule: str
    checked: str  # what the rule looked at, in words
    passed: bool


@dataclass(frozen=True)
class AccessReport:
    accounts: tuple[AccountRef, ...]
    roles: tuple[RoleTrust, ...]
    matrix: tuple[MatrixRow, ...]
    violations: tuple[Violation, ...]
    missing_roles: tuple[str, ...]
    skipped: tuple[str, ...]
    checks: tuple[Check, ...] = ()


def read_access(organization: Organization) -> AccessReport:
    accounts, skipped = accounts_with_environments(organization)
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(accounts)))) as pool:
        roles = [r for found in pool.map(lambda a: _read_roles(organization, a), accounts) for r in found]
    return analyse(organization, tuple(ref(a) for a in accounts), tuple(roles), skipped)


def _read_roles(organization: Organization, account: Account) -> list[RoleTrust]:
    iam = aws.client(member_session(organization, account, organization.settings.region, "access"), "iam")
    settings = organization.settings
    found = []
    for role, level in ((settings.plan_role, PLAN), (settings.deploy_role, DEPLOY)):
        document = _trust_document(iam, account, role)
        grants = parse_trust_policy(document, account.id or "") if document is not None else ()
        found.append(RoleTrust(ref(account), role, level, organization.role_arn(account, role),
                               document is not None, grants))
    return found


def _trust_document(iam, account: Account, role: str) -> Any:
    """The role's trust policy, or None when the role does not exist (not bootstrapped yet)."""
    from botocore.exceptions import ClientError

    with aws_failure(account, f"IAM GetRole {role}"):
        try:
            return iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return None
            raise


# -- trust policies (pure) --------------------------------------------------------------------------


def parse_trust_policy(document: Any, role_account_id: str) -> tuple[Grant, ...]:
    """Every principal a trust policy admits to assume its role, one Grant per principal and statement.

    ``document`` is a dict (boto3 decodes GetRole's) or the URL-encoded JSON the raw API returns."""
    import json

    if isinstance(document, str):
        document = json.loads(unquote(document))
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    grants: list[Grant] = []
    denied: set[str] = set()
    for position, statement in enumerate(statements):
        if not _assumes(statement):
            continue
        sid = statement.get("Sid") or f"statement {position + 1}"
        principals = _principals(statement)
        if statement.get("Effect") == "Deny":
            if not statement.get("Condition") and "NotPrincipal" not in statement:
                denied |= {arn for _, arn in principals}
            continue
        if statement.get("Effect") != "Allow":
            continue
        conditions = _conditions(statement.get("Condition", {}))
        subjects = tuple(sorted(_values(conditions, GITHUB_SUB)))
        mfa = _requires_mfa(conditions)
        pinned = _pins_ref(conditions)
        for kind, arn in principals:
            account_id = _account_of(kind, arn)
            grants.append(Grant(principal=principal_label(kind, arn, subjects, role_account_id), type=kind, arn=arn,
                                account_id=account_id, mfa=mfa, pinned_ref=pinned, subjects=subjects,
                                statement=sid))
    if "*" in denied:
        return ()
    return tuple(g for g in grants if g.arn not in denied)


def _assumes(statement: dict[str, Any]) -> bool:
    if "NotAction" in statement:
        return True  # everything but some actions: assume it includes AssumeRole (the safe reading)
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    for action in (a.lower() for a in actions):
        if action in ("*", "sts:*") or action in ASSUME_ACTIONS:
            return True
    return False


def _principals(statement: dict[str, Any]) -> list[tuple[str, str]]:
    if "NotPrincipal" in statement:
        return [("*", "*")]  # everyone but a few: as open as `*` for this report
    principal = statement.get("Principal")
    if principal == "*" or principal is None:
        return [("*", "*")] if principal == "*" else []
    found = []
    for kind in sorted(principal):
        values = principal[kind]
        for value in [values] if isinstance(values, str) else values:
            if value == "*":
                found.append(("*", "*"))
            elif kind == "AWS":
                found.append(("AWS", _aws_principal(value)))
            else:
                found.append((kind, value))
    return found


def _aws_principal(value: str) -> str:
    """A bare account id in a policy means that account's root."""
    return f"arn:aws:iam::{value}:root" if re.fullmatch(r"[0-9]{12}", value) else value


def _conditions(block: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(operator, key, values), keys lower-cased: IAM compares condition keys case-insensitively."""
    result = []
    for operator, tests in block.items():
        for key, values in tests.items():
            values = [values] if isinstance(values, (str, bool, int, float)) else values
            result.append((operator, key.lower(), tuple(str(v) for v in values)))
    return result


def _values(conditions, key: str) -> set[str]:
    return {v for _, k, values in conditions if k == key.lower() for v in values}


def _requires_mfa(conditions) -> bool:
    for operator, key, values in conditions:
        # BoolIfExists would let sessions without MFA context through: it does not count.
        if key == "aws:multifactorauthpresent" and operator == "Bool" and all(v.lower() == "true" for v in values):
            return True
        if key == "aws:multifactorauthage" and operator.startswith("NumericLessThan"):
            return True
    return False


def _pins_ref(conditions) -> bool:
    tests = [(operator, values) for operator, key, values in conditions if key == GITHUB_SUB]
    if not tests:
        return False
    for operator, values in tests:
        # StringLike with no wildcard matches like StringEquals; any wildcard admits more than one ref.
        if operator.removeprefix("ForAnyValue:") not in ("StringEquals", "StringLike"):
            return False
        if not all(PINNED_SUB.match(v) for v in values):
            return False
    return True


def _account_of(kind: str, arn: str) -> str | None:
    if kind in ("AWS", "Federated"):
        match = ACCOUNT_IN_ARN.match(arn)
        return match.group(1) if match else None
    return None


def principal_label(kind: str, arn: str, subjects: tuple[str, ...], role_account_id: str) -> str:
    """How the matrix names a principal. A GitHub OIDC provider is one per account, so it is named by
    the `sub` values it admits (the provider's ARN only when it lives in another account)."""
    if kind == "*":
        return "* (anyone)"
    if kind == "Service":
        return f"service:{arn}"
    if kind == "Federated" and arn.endswith(f":oidc-provider/{GITHUB_OIDC}"):
        where = "" if _account_of(kind, arn) == role_account_id else f" [{arn}]"
        return f"github-oidc{where} sub={','.join(subjects) or '*'}"
    return arn


# -- the matrix and the rules -----------------------------------------------------------------------


def analyse(organization: Organization, accounts: tuple[AccountRef, ...], roles: tuple[RoleTrust, ...],
            skipped: tuple[str, ...] = ()) -> AccessReport:
    # A role trusting itself lets its own sessions renew it, nobody else in.
    roles = tuple(dataclasses.replace(r, grants=tuple(g for g in r.grants if g.arn != r.arn)) for r in roles)
    levels: dict[str, dict[str, str]] = {}
    for role in roles:
        for grant in role.grants:
            cell = levels.setdefault(grant.principal, {})
            if LEVEL_RANK[role.level] > LEVEL_RANK[cell.get(role.account.id, NONE)]:
                cell[role.account.id] = role.level
    matrix = tuple(MatrixRow(p, tuple(levels[p].get(a.id, NONE) for a in accounts))
                   for p in sorted(levels, key=lambda p: (-_reach(levels[p]), p)))
    missing = tuple(f"{r.account.name} ({r.account.id}): {r.role}" for r in roles if not r.exists)
    violations = tuple(_violations(organization, roles))
    broken = {v.rule for v in violations}
    checks = tuple(Check(rule, checked, rule not in broken) for rule, checked in CHECKS)
    return AccessReport(accounts, roles, matrix, violations, missing, skipped, checks)


def _reach(cells: dict[str, str]) -> int:
    return sum(LEVEL_RANK[level] for level in cells.values())


def _violations(organization: Organization, roles: Iterable[RoleTrust]) -> list[Violation]:
    settings = organization.settings
    ci_arns = {_aws_principal(p) for p in settings.deploy_principals}
    development_ids = {a.id for a in organization.accounts if a.kind in DEVELOPMENT_KINDS and a.id}
    found: dict[tuple[str, str, str, str], Violation] = {}

    def flag(rule: str, role: RoleTrust, grant: Grant, message: str) -> None:
        # Once per principal and role; per statement only where the statement is the problem.
        statement = grant.statement if rule == UNCONDITIONED else ""
        found.setdefault((rule, role.arn, grant.principal, statement),
                         Violation(rule, role.account, role.role, grant.principal, message))

    planners = [g for r in roles if r.level == PLAN for g in r.grants]
    plan_arns = {g.arn.lower() for g in planners if g.type == "AWS"}
    for role in roles:
        if role.level == DEPLOY:
            _separation(role, planners, development_ids, settings.github_repository, flag)
        if role.account.kind != AccountKind.PRODUCTION.value:
            continue
        for grant in role.grants:
            if role.level == DEPLOY:
                ci = _is_ci(grant, ci_arns, settings.github_repository)
                if not ci:
                    flag(NOT_CI, role, grant, f"{grant.principal} can deploy production but is not a CI principal "
                                              "(organization deploy_principals or the GitHub repository's OIDC)")
                # A deploy-principal role is gated by its own trust, unless pull requests plan with it too.
                exempt = ci and grant.type == "AWS" and ":role/" in grant.arn and grant.arn.lower() not in plan_arns
                if not exempt and not grant.mfa and not grant.pinned_ref:
                    flag(UNCONDITIONED, role, grant, f"{grant.principal} can deploy production through "
                                                     f"{grant.statement}, which requires neither MFA nor a `sub` "
                                                     "pinned to a git ref")
            if grant.type == "*" or grant.account_id in development_ids:
                owner = "anyone" if grant.type == "*" else _account_name(organization, grant.account_id)
                flag(DEVELOPMENT_READS_PRODUCTION, role, grant,
                     f"{grant.principal} ({owner}) is trusted by production's {role.level} role "
                     f"{role.role} and can read production state")
    return sorted(found.values(), key=lambda v: (v.rule, v.account.name, v.role, v.principal))


def _separation(role: RoleTrust, planners: list[Grant], development_ids: set[str], repository: str | None,
                flag) -> None:
    """The rules that keep what a pull request can reach from deploying outside development accounts."""
    protected = role.account.kind in PROTECTED_KINDS
    for grant in role.grants:
        if protected:
            shared = next((p for p in planners if _covers(grant, p)), None)
            if shared is not None:
                flag(PLANS_AND_DEPLOYS, role, grant,
                     f"{grant.principal} can deploy {role.account.kind} account {role.account.name} and admits "
                     f"{shared.principal}, which a plan role trusts: a pull-request job can change the workflow it "
                     "runs under, so whatever identity plans can be made to deploy")
        if role.account.id not in development_ids and _is_github(grant):
            reachable = unreviewed_subjects(grant, repository)
            if reachable:
                flag(PULL_REQUEST_DEPLOYS, role, grant,
                     f"{grant.principal} on the deploy role of {role.account.kind} account {role.account.name} "
                     f"admits {', '.join(reachable)}, which a job running unreviewed code can present")


def _is_github(grant: Grant) -> bool:
    return grant.type == "Federated" and grant.arn.endswith(f":oidc-provider/{GITHUB_OIDC}")


def _covers(deploy: Grant, plan: Grant) -> bool:
    """Whether trusting ``deploy`` also admits the principal of ``plan``."""
    if deploy.type == "*":
        return True
    if deploy.type == "AWS" and plan.type == "AWS":
        if deploy.arn.lower() == plan.arn.lower():
            return True
        return deploy.arn.endswith(":root") and deploy.account_id is not None and plan.account_id == deploy.account_id
    if _is_github(deploy) and _is_github(plan):
        return not deploy.subjects or any(_subject_matches(d, p) for d in deploy.subjects for p in plan.subjects)
    return False


def unreviewed_subjects(grant: Grant, repository: str | None) -> tuple[str, ...]:
    """Subjects of jobs running unreviewed code that ``grant`` admits (one example of each kind)."""
    if not grant.subjects:
        return ("any subject (no `sub` condition)",)
    found: list[str] = []
    for pattern in grant.subjects:
        parts = pattern.split(":")
        named = parts[1] if len(parts) > 2 and parts[0] == "repo" and not any(c in parts[1] for c in "*?") else None
        repo = named or repository or "owner/repository"
        for candidate in (f"repo:{repo}:pull_request", f"repo:{repo}:ref:refs/heads/unreviewed-branch",
                          f"repo:{repo}:environment:unprotected-environment"):
            if _subject_matches(pattern, candidate) and candidate not in found:
                found.append(candidate)
    return tuple(found)


def _subject_matches(pattern: str, subject: str) -> bool:
    """IAM's StringLike: * any run of characters (including / and :), ? exactly one; nothing else is special."""
    return fnmatch.fnmatchcase(subject, pattern.replace("[", "[[]"))


def _is_ci(grant: Grant, ci_arns: set[str], repository: str | None) -> bool:
    if grant.type == "AWS":
        return grant.arn in ci_arns
    if grant.type == "Federated" and grant.arn.endswith(f":oidc-provider/{GITHUB_OIDC}") and repository:
        prefix = f"repo:{repository}:"
        return bool(grant.subjects) and all(s.startswith(prefix) for s in grant.subjects)
    return False


def _account_name(organization: Organization, account_id: str | None) -> str:
    account = next((a for a in organization.accounts if a.id == account_id), None)
    return f"account {account.name}, {account.kind.value}" if account else f"account {account_id}"
