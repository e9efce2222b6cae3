"""What a run of Terraform is asked and what it answers: the request, progress events, confirmations
and the report. Plain data, shared by the runner, the review and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, Mapping

from generators.config.models import Organization
from generators.errors import UsageError
from generators.review.plan_changes import ReviewedPlan
from generators.run.terraform_output import Changes, LockInfo
from generators.synth.cache import SynthCache
from generators.synth.output import OutputReport

ACTIONS = ("plan", "deploy", "destroy")
ROLES = ("deploy", "plan")  # the organization's deploy_role and plan_role
DEFAULT_JOBS = 4
# Long enough to wait out a colleague's short plan, short enough that a stuck lock is reported soon.
DEFAULT_LOCK_TIMEOUT = 60


class Result(str, Enum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # not run: a dependency did not succeed, or the plan was not confirmed
    REFUSED = "refused"  # not run: a production environment without --allow-production


@dataclass(frozen=True)
class WorkspaceResult:
    environment: str
    account: str
    account_id: str
    action: str
    result: Result
    # Applied changes for deploy/destroy (apply's change_summary), planned ones for plan.
    changes: Changes | None = None
    duration: float = 0.0  # seconds Terraform ran for this workspace; prompts excluded
    log_path: Path | None = None
    message: str = ""
    lock: LockInfo | None = None
    role: str = ""  # the IAM role name every assume-role of this workspace used
    plan_json: Path | None = None  # plan only: the rendered saved plan, when it succeeded with changes
    has_changes: bool = False  # the plan found something to do (terraform's -detailed-exitcode 2)
    plan_file: Path | None = None  # plan only: the saved plan this run made (kept until the next run)
    plan_sha256: str = ""  # of plan_file


@dataclass(frozen=True)
class RunReport:
    action: str
    results: tuple[WorkspaceResult, ...]
    synthesis: OutputReport | None = None  # None: the output was already up to date
    role: str = ""  # the IAM role name the workspaces ran with
    run_id: str = ""  # names this run's saved plans
    interrupted_by: int | None = None  # the signal that interrupted the run

    @property
    def failed(self) -> tuple[WorkspaceResult, ...]:
        return tuple(r for r in self.results if r.result is Result.FAILED)

    @property
    def not_done(self) -> tuple[WorkspaceResult, ...]:
        """Everything that did not succeed: failed, refused, skipped or not confirmed."""
        return tuple(r for r in self.results if r.result is not Result.OK)


@dataclass(frozen=True)
class PendingPlan:
    environment: str
    account: str
    production: bool
    changes: Changes
    plan_text: str | None = None  # `terraform show` of the saved plan; production only


@dataclass(frozen=True)
class Confirmation:
    """What the confirm callback is asked: apply these saved plans?"""

    action: str
    plans: tuple[PendingPlan, ...]
    production: bool


@dataclass(frozen=True)
class Event:
    """Progress of one workspace (or of the whole run when ``environment`` is None).

    kind: "step" a step starts; "result" a step's outcome; "output" one line of Terraform's output
    (for live displays; plain displays skip it: the full output is in the log).
    """

    environment: str | None
    step: str
    message: str = ""
    kind: str = "step"


@dataclass(frozen=True)
class RunRequest:
    organization: Organization
    modules_dir: Path
    outdir: Path
    action: str
    environments: tuple[str, ...] = ()
    all_environments: bool = False
    jobs: int = DEFAULT_JOBS
    auto_approve: bool = False
    allow_production: bool = False
    lock_timeout: int = DEFAULT_LOCK_TIMEOUT
    with_extensions: bool = True
    local_endpoint: bool = False
    cache_dir: Path | None = None  # None: $AWS_ORG_WORKSPACES_CACHE or <project>/.cache/terraform
    synth_cache: SynthCache | None = None  # for the synthesis the run starts with; None: none
    role: str = "deploy"  # one of ROLES; "plan" (read-only) only for the plan action
    # deploy only: the reviewed plans (plan_changes.load_review); each environment's plan must match its own
    expect_review: Mapping[str, ReviewedPlan] | None = None
    expect_review_source: str = ""  # where the review came from, for messages
    command: str | None = None  # what the run lock records as the holder's command; None: sys.argv


EventCallback = Callable[[Event], None]
ConfirmCallback = Callable[[Confirmation], bool]


def resolve_role(organization: Organization, role: str) -> str:
    """The IAM role name behind one of ROLES."""
    if role not in ROLES:
        raise UsageError(f"unknown role '{role}'; one of {', '.join(ROLES)}")
    return organization.settings.plan_role if role == "plan" else organization.settings.deploy_role
