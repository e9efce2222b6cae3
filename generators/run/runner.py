"""Run Terraform in the generated workspaces: plan, deploy and destroy environments.

The runner first takes a local lock on every selected environment (``run_lock``: a second run on the
same stacks is refused at once, naming the holder), brings the generated output up to date (the
same pipeline as ``synth``), then runs terraform in each selected stack folder:

* ``terraform init`` runs one workspace at a time, and all of a wave's inits finish before its plans
  start (the shared plugin cache is not safe while an init re-links it);
  plans and applies run in parallel, up to ``jobs`` at a time;
* every run plans into a file of its own, ``<out>/.runs/<environment>/<run id>.tfplan``, shows that
  file and applies exactly that file: what was shown (and confirmed) is what runs. A plan run keeps
  its saved plan, rendered (``terraform show -json``) beside it for the pull-request review
  (generators/review/review.py), until the next run of that environment;
* ``deploy`` with a review (``expect_review``) compares its own plan's change set with the reviewed
  one (generators/review/plan_changes.py) and applies only when they are the same;
* every role the workspace assumes is the deploy role, or for plans the read-only plan role: then the
  backend is initialized with the plan role (``-backend-config``), ``role_name`` names it for the
  providers and remote state, and the plan takes no state lock (``-lock=false``: the plan role may
  not write, so it can neither take nor delete a lock). ``init`` always runs with ``-reconfigure``,
  because Terraform keeps a ``-backend-config`` override through later plain inits: without it a
  deploy after a plan-role plan would still reach its state through the plan role;
* environments that ``uses`` another run in waves: after it on deploy, before it on destroy; when an
  environment did not succeed, the ones waiting on it are skipped;
* one workspace failing never stops the others; each gets a result;
* without auto-approve, the user is asked after each wave's plans: once per production workspace,
  showing its whole plan, then once for the rest. Per wave, because a user's plan reads the outputs
  its infrastructure environment's apply writes, and nothing is applied that was not shown;
* interrupted (``interruption.Interruption``), running terraforms get SIGINT and finish cleanly,
  nothing new starts, and the report says what was interrupted.

Terraform runs with ``-json``: summaries, diagnostics and lock holders come from its typed messages
(generators/run/terraform_output.py); ``terraform.log`` in each stack folder gets Terraform's human lines.
Only the CLI prints, prompts or exits: progress goes to an ``on_event`` callback, confirmation to a
``confirm`` callback, and everything ends in a ``RunReport``. A held state lock is reported with its
holder, never broken.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping

from generators.config.models import AccountKind, Environment, Organization
from generators.errors import UsageError
from generators.review.plan_changes import ChangeEntry, ReviewedPlan, change_set, differences, file_sha256
from generators.run.interruption import Interruption
from generators.run.model import (ConfirmCallback, Confirmation, Event, EventCallback, PendingPlan, Result, RunReport,
                                  RunRequest, WorkspaceResult, resolve_role)
from generators.run.run_lock import StackLocks, run_dir
from generators.run.selection import check_request, dependencies, select_environments, waves
from generators.run.state_lock import read_state_lock
from generators.run.terraform_output import Changes, LockInfo, StreamSummary, human_lines, parse_line
from generators.synth.output import OutputReport
from generators.synth.workspace import ROLE_VARIABLE, session_name
from generators.terraform_cli import terraform_binary, terraform_environment

LOG_FILE = "terraform.log"
CACHE_ENV = "AWS_ORG_WORKSPACES_CACHE"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent

# Process-wide: `terraform init` installs into the shared plugin cache, which is not safe for
# concurrent writers (https://developer.hashicorp.com/terraform/cli/config/config-file#provider-plugin-cache).
_INIT_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else PROJECT_ROOT / ".cache" / "terraform"


# -- running terraform in one workspace ------------------------------------------------------------


@dataclass
class _Workspace:
    """Mutable progress of one workspace while the run is under way; frozen into a WorkspaceResult."""

    environment: Environment
    stack_dir: Path
    plan_file: Path  # this run's saved plan: the file shown, confirmed and applied
    result: Result | None = None
    changes: Changes | None = None
    planned: Changes | None = None
    has_changes: bool = False
    plan_text: str | None = None
    duration: float = 0.0
    message: str = ""
    lock: LockInfo | None = None
    ran: bool = False
    plan_json: Path | None = None
    plan_sha256: str = ""
    interrupted_step: str = ""  # the step terraform was in when the run was interrupted

    @property
    def name(self) -> str:
        return self.environment.name

    @property
    def log_path(self) -> Path:
        return self.stack_dir / LOG_FILE

    @property
    def rendered_plan(self) -> Path:
        return self.plan_file.with_suffix(".json")

    def finish(self, result: Result, message: str = "", changes: Changes | None = None) -> None:
        self.result, self.message = result, message
        if changes is not None:
            self.changes = changes

    def discard_plan(self) -> None:
        """A saved plan that will not be applied goes at once: it is stale, and it may hold sensitive values."""
        self.plan_file.unlink(missing_ok=True)
        self.rendered_plan.unlink(missing_ok=True)

    def frozen(self, action: str, role: str) -> WorkspaceResult:
        kept = self.result is Result.OK and action == "plan"
        return WorkspaceResult(
            environment=self.name, account=self.environment.account.name,
            account_id=self.environment.account.id or "", action=action, result=self.result or Result.SKIPPED,
            changes=self.changes, duration=round(self.duration, 1), log_path=self.log_path if self.ran else None,
            message=self.message, lock=self.lock, role=role, has_changes=self.has_changes,
            plan_json=self.plan_json if kept else None,
            plan_file=self.plan_file if kept and self.plan_file.is_file() else None,
            plan_sha256=self.plan_sha256 if kept else "")


@dataclass(frozen=True)
class _Completed:
    returncode: int
    summary: StreamSummary = field(default_factory=StreamSummary)
    interrupted: bool = False  # the run was interrupted while (or before) this command ran


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Terraform:
    binary: str
    env: dict[str, str]
    lock_timeout: int
    action: str
    emit: EventCallback
    organization: Organization
    role: str = "deploy"  # one of ROLES
    interruption: Interruption = field(default_factory=Interruption)
    expect_review: Mapping[str, ReviewedPlan] | None = None
    review_source: str = ""

    @property
    def role_name(self) -> str:
        return resolve_role(self.organization, self.role)

    def state_locking(self) -> list[str]:
        # The plan role has no write permission: it cannot take a lock, and must never be able to delete
        # a running deploy's. Plans only read the state, so they run without one.
        return ["-lock=false"] if self.role == "plan" else [f"-lock-timeout={self.lock_timeout}s"]

    def initialized(self, workspace: _Workspace) -> bool:
        """Whether the last init still holds: it ran after the stack file last changed (synth rewrites
        only changed files), installed the providers, and set up the backend with this run's role.
        Skipping it saves a second or two per workspace, most of an incremental plan's overhead."""
        stack_dir = workspace.stack_dir
        backend_state = stack_dir / ".terraform" / "terraform.tfstate"
        if not (backend_state.is_file() and (stack_dir / ".terraform.lock.hcl").is_file()):
            return False
        if (stack_dir / "cdk.tf.json").stat().st_mtime_ns >= backend_state.stat().st_mtime_ns:
            return False
        try:
            backend = json.loads(backend_state.read_text()).get("backend") or {}
        except (OSError, ValueError):
            return False
        configured = (backend.get("config") or {}).get("assume_role") or {}
        expected = self.organization.role_arn(workspace.environment.account, self.role_name)
        return backend.get("type") == "s3" and configured.get("role_arn") == expected

    def init_args(self, workspace: _Workspace) -> list[str]:
        # -reconfigure: see the module docstring; it never migrates state, it only re-reads the configuration.
        args = ["init", "-json", "-input=false", "-reconfigure"]
        if self.role != "deploy":
            # The backend cannot read var.role_name, so its assume_role is replaced as a whole.
            session = session_name(workspace.name)  # as the generated backend's, so CloudTrail shows them alike
            role_arn = self.organization.role_arn(workspace.environment.account, self.role_name)
            args.append(f"-backend-config=assume_role={{role_arn={json.dumps(role_arn)},"
                        f"session_name={json.dumps(session)}}}")
        return args

    def capture(self, workspace: _Workspace, args: list[str], destination: Path) -> _Completed:
        """Run one terraform command with its stdout written to ``destination`` (replaced only on success)
        and its stderr to the log: for machine output (``show -json``), which holds sensitive values the
        log must not."""
        workspace.ran = True
        started = time.monotonic()
        partial = destination.with_name(destination.name + ".partial")
        with open(workspace.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n===== {_stamp()} {self.action} {workspace.name}: terraform {' '.join(args)} "
                      f"(output in {destination}) =====\n")
            log.flush()
            # Owner-only: the rendered plan holds the plan's sensitive values in clear text.
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "wb") as out:
                process = self.interruption.start([self.binary, *args], cwd=workspace.stack_dir, env=self.env,
                                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
                if process is None:
                    partial.unlink(missing_ok=True)
                    return _Completed(-1, interrupted=True)
                try:
                    _, errors_bytes = process.communicate()
                finally:
                    self.interruption.finished(process)
            errors = errors_bytes.decode("utf-8", errors="replace")
            log.write(errors)
            log.write(f"===== exit code {process.returncode} =====\n")
        workspace.duration += time.monotonic() - started
        if process.returncode == 0:
            os.replace(partial, destination)
        else:
            partial.unlink(missing_ok=True)
        return _Completed(process.returncode, interrupted=self.interruption.interrupted)

    def run(self, workspace: _Workspace, step: str, args: list[str]) -> _Completed:
        """Run one terraform command (with ``-json``: its typed messages are read, its human lines logged)."""
        workspace.ran = True
        started = time.monotonic()
        summary = StreamSummary()
        with open(workspace.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n===== {_stamp()} {self.action} {workspace.name}: terraform {' '.join(args)} =====\n")
            log.flush()
            process = self.interruption.start([self.binary, *args], cwd=workspace.stack_dir, env=self.env,
                                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                                              errors="replace")
            if process is None:
                log.write("===== not started: the run was interrupted =====\n")
                return _Completed(-1, summary, interrupted=True)
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    message = parse_line(line)
                    texts = human_lines(message) if message is not None else [line.rstrip("\n")]
                    if message is not None:
                        summary.add(message)
                    for text in texts:
                        log.write(text + "\n")
                    log.flush()  # so `tail -f terraform.log` follows a long apply
                    if texts[0].strip():
                        self.emit(Event(workspace.name, step, texts[0].rstrip(), kind="output"))
                returncode = process.wait()
            finally:
                if process.poll() is None:  # this thread was interrupted while terraform runs: stop it cleanly
                    process.send_signal(signal.SIGINT)
                    try:
                        process.wait(self.interruption.grace)
                    except subprocess.TimeoutExpired:
                        process.kill()
                self.interruption.finished(process)
            log.write(f"===== exit code {returncode} =====\n")
        workspace.duration += time.monotonic() - started
        return _Completed(returncode, summary, interrupted=self.interruption.interrupted)

    def fail(self, workspace: _Workspace, step: str, completed: _Completed) -> None:
        if completed.interrupted:
            self.interrupted(workspace, step, completed)
            return
        errors = completed.summary.errors
        if any(e.is_lock_error for e in errors):
            # The lock diagnostic names the holder; the lock object is the fallback when it did not.
            workspace.lock = completed.summary.lock() or read_state_lock(
                self.organization, workspace.environment, self.role_name)
            held = str(workspace.lock) if workspace.lock else "held by an unknown holder"
            message = f"state is locked, {held}; it was not broken: wait for that run to finish, or, once sure it " \
                      "is dead, release it yourself with `terraform force-unlock`"
        elif any(e.is_already_exists for e in errors):
            message = self.already_exists(workspace, completed.summary)
        else:
            message = errors[0].summary if errors else f"terraform {step} exited with code {completed.returncode}"
            if any(e.is_missing_bucket for e in errors):
                message += " (state buckets are created by `python main.py bootstrap`)"
        workspace.finish(Result.FAILED, f"{step}: {message}")
        self.emit(Event(workspace.name, step, f"failed: {message}", kind="result"))

    def already_exists(self, workspace: _Workspace, summary: StreamSummary) -> str:
        """Something Terraform creates exists already: its state lost track of it (a killed apply, a
        deleted state) or someone made it by hand. Name it and how to adopt it."""
        diagnostic = next(e for e in summary.errors if e.is_already_exists)
        addresses = [diagnostic.address] if diagnostic.address else summary.errored
        address = addresses[0] if addresses else "<address>"
        extra = f" (and {len(addresses) - 1} more, see the log)" if len(addresses) > 1 else ""
        return (f"{address}{extra} already exists in AWS but not in the state ({diagnostic.summary}). If it is "
                f"this environment's, adopt it: cd {workspace.stack_dir} && terraform import "
                f"-var={ROLE_VARIABLE}={self.role_name} '{address}' ID (ID as the resource type's import "
                "documentation says), then run again; otherwise remove it or rename it in the configuration")

    def interrupted(self, workspace: _Workspace, step: str, completed: _Completed) -> None:
        name = signal.Signals(self.interruption.signal).name if self.interruption.signal else "a signal"
        if completed.returncode == -1 and not workspace.interrupted_step:
            workspace.finish(Result.SKIPPED, f"interrupted by {name} before {step}")
        elif self.interruption.killed:
            workspace.interrupted_step = step
            workspace.finish(Result.FAILED, f"{step} killed after {name}: terraform could not write its state; "
                                            "check the state lock and what exists before running again")
        else:
            workspace.interrupted_step = step
            workspace.finish(Result.FAILED, f"{step} interrupted by {name}: terraform stopped cleanly and saved "
                                            "its state; run again to finish")
        self.emit(Event(workspace.name, step, workspace.message, kind="result"))

    def init(self, workspace: _Workspace) -> None:
        if not (workspace.stack_dir / "cdk.tf.json").is_file():
            workspace.finish(Result.FAILED, f"no generated workspace in {workspace.stack_dir}")
            return
        if self.initialized(workspace):
            self.emit(Event(workspace.name, "init", "up to date", kind="result"))
            return
        with _INIT_LOCK:
            self.emit(Event(workspace.name, "init"))
            completed = self.run(workspace, "init", self.init_args(workspace))
        if completed.returncode != 0:
            self.fail(workspace, "init", completed)

    def prepare(self, workspace: _Workspace, show_plan: bool) -> None:
        """Plan an initialized workspace into its own plan file (rendered for plan and reviewed deploys)."""
        self.emit(Event(workspace.name, "plan"))
        args = ["plan", "-json", "-input=false", *self.state_locking(), "-detailed-exitcode",
                f"-var={ROLE_VARIABLE}={self.role_name}", f"-out={workspace.plan_file}"]
        if self.action == "destroy":
            args.append("-destroy")
        completed = self.run(workspace, "plan", args)
        if completed.returncode not in (0, 2) or completed.interrupted:  # -detailed-exitcode: 0 none, 2 changes
            workspace.discard_plan()
            self.fail(workspace, "plan", completed)
            return
        workspace.has_changes = completed.returncode == 2
        reviewed = self.expect_review is not None and self.action == "deploy"
        # A plan with nothing to do has nothing to review; rendering it would start the provider once
        # more (about half of a plan's time) for an empty list.
        if workspace.has_changes and (self.action == "plan" or reviewed):
            shown = self.capture(workspace, ["show", "-json", str(workspace.plan_file)], workspace.rendered_plan)
            if shown.returncode != 0:
                workspace.discard_plan()
                self.fail(workspace, "show", shown)
                return
            workspace.plan_json = workspace.rendered_plan
        workspace.planned = completed.summary.changes or Changes()
        outputs_only = workspace.has_changes and workspace.planned == Changes()
        summary = "only output changes" if outputs_only else str(workspace.planned) if workspace.has_changes \
            else "no changes"
        self.emit(Event(workspace.name, "plan", summary, kind="result"))
        if reviewed and not self.matches_review(workspace):
            workspace.discard_plan()
            return
        if self.action == "plan":
            workspace.plan_sha256 = file_sha256(workspace.plan_file)
            workspace.finish(Result.OK, "only output changes" if outputs_only else "", workspace.planned)
        elif not workspace.has_changes:
            workspace.finish(Result.OK, "no changes", Changes())
            workspace.discard_plan()
        elif show_plan:
            shown_text = self.run_text(workspace, ["show", "-no-color", str(workspace.plan_file)])
            workspace.plan_text = shown_text

    def matches_review(self, workspace: _Workspace) -> bool:
        """Whether this deploy's plan does what the review showed; refuses the workspace when not."""
        assert self.expect_review is not None
        reviewed = self.expect_review.get(workspace.name)
        account_id = workspace.environment.account.id or ""
        if reviewed is None:
            problem = f"not in the review {self.review_source}"
        elif reviewed.result != Result.OK.value:
            problem = f"its plan in the review {self.review_source} did not succeed ({reviewed.result})"
        elif reviewed.account_id != account_id:
            problem = f"reviewed for account {reviewed.account_id}, but it is in {account_id}"
        else:
            planned: tuple[ChangeEntry, ...] = ()
            if workspace.plan_json is not None:
                planned = change_set(json.loads(workspace.plan_json.read_text(encoding="utf-8")))
            found = differences(reviewed.changes, planned)
            if not found:
                self.emit(Event(workspace.name, "plan", "matches the review", kind="result"))
                return True
            problem = f"its plan differs from the review {self.review_source}: " + "; ".join(found)
        workspace.finish(Result.REFUSED, f"{problem}; nothing was applied")
        self.emit(Event(workspace.name, "plan", f"refused: {problem}", kind="result"))
        return False

    def run_text(self, workspace: _Workspace, args: list[str]) -> str | None:
        """A human rendering (``show``) for the confirmation prompt: returned, never parsed."""
        process = self.interruption.start([self.binary, *args], cwd=workspace.stack_dir, env=self.env,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")
        if process is None:
            return None
        try:
            output, _ = process.communicate()
        finally:
            self.interruption.finished(process)
        return output if process.returncode == 0 else None

    def apply(self, workspace: _Workspace) -> None:
        self.emit(Event(workspace.name, "apply"))
        try:
            completed = self.run(workspace, "apply", ["apply", "-json", "-input=false",
                                                      f"-lock-timeout={self.lock_timeout}s",
                                                      str(workspace.plan_file)])
        finally:
            # Applied or not, a saved plan is stale now (and may hold sensitive values).
            workspace.discard_plan()
        if completed.returncode != 0 or completed.interrupted:
            self.fail(workspace, "apply", completed)
            return
        changes = completed.summary.changes or workspace.planned
        workspace.finish(Result.OK, "", changes)
        self.emit(Event(workspace.name, "apply", _done(changes), kind="result"))


def _done(changes: Changes | None) -> str:
    if changes is None:
        return "no summary"
    return f"{changes.add} added, {changes.change} changed, {changes.destroy} destroyed"


# -- the run ---------------------------------------------------------------------------------------


def ensure_synthesized(request: RunRequest) -> OutputReport | None:
    """Run the `synth` pipeline, writing only when the output is not up to date."""
    from generators.synth.pipeline import SynthRequest, bring_up_to_date

    return bring_up_to_date(SynthRequest(request.organization, request.modules_dir, request.outdir,
                                         with_extensions=request.with_extensions,
                                         local_endpoint=request.local_endpoint, cache=request.synth_cache))


def new_run_id() -> str:
    """Unique per run: sortable by time, and told apart from a run started in the same second."""
    return f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}-{secrets.token_hex(3)}"


def _clear_old_plans(folder: Path) -> None:
    """Saved plans of earlier runs of this environment (we hold its lock, so none is in use)."""
    for path in folder.iterdir():
        if path.is_file() and path.name != "lock":
            path.unlink(missing_ok=True)


def run(request: RunRequest, on_event: EventCallback | None = None,
        confirm: ConfirmCallback | None = None, interruption: Interruption | None = None) -> RunReport:
    """Plan, deploy or destroy the requested environments; see the module docstring."""
    emit = on_event or (lambda event: None)
    organization = request.organization
    selected = select_environments(organization, request.environments, request.all_environments, request.action)
    check_request(organization, selected, request)
    if request.action != "plan" and not request.auto_approve and confirm is None:
        raise UsageError(f"{request.action} asks before applying; pass --auto-approve when nobody can answer")
    if request.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    binary = terraform_binary()
    with StackLocks(request.outdir, request.command) as locks:
        # Before anything is synthesized: a second run must not rewrite or re-initialize a stack that
        # a first run has planned and is about to apply.
        locks.acquire([e.name for e in selected])
        return _locked_run(request, selected, binary, emit, confirm, interruption or Interruption())


def _locked_run(request: RunRequest, selected: tuple[Environment, ...], binary: str, emit: EventCallback,
                confirm: ConfirmCallback | None, interruption: Interruption) -> RunReport:
    from generators.synth.pipeline import stack_dir

    organization = request.organization
    emit(Event(None, "synth", "checking the generated workspaces"))
    synthesis = ensure_synthesized(request)
    emit(Event(None, "synth", "generated workspaces are up to date" if synthesis is None else
               f"synthesized: {len(synthesis.created)} created, {len(synthesis.changed)} changed, "
               f"{len(synthesis.removed)} removed", kind="result"))

    cache_dir = request.cache_dir or default_cache_dir()
    terraform = _Terraform(binary=binary, env=terraform_environment(cache_dir), lock_timeout=request.lock_timeout,
                           action=request.action, emit=emit, organization=organization, role=request.role,
                           interruption=interruption, expect_review=request.expect_review,
                           review_source=request.expect_review_source)
    run_id = new_run_id()
    workspaces = {}
    for environment in selected:
        folder = run_dir(request.outdir, environment.name).resolve()
        _clear_old_plans(folder)
        workspaces[environment.name] = _Workspace(environment, stack_dir(request.outdir, environment).resolve(),
                                                  folder / f"{run_id}.tfplan")

    if request.action != "plan" and not request.allow_production:
        for environment in selected:  # only reached with --all: named ones were refused up front
            if environment.kind is AccountKind.PRODUCTION:
                workspaces[environment.name].finish(
                    Result.REFUSED, f"production account: {request.action} it with --allow-production")
                emit(Event(environment.name, request.action, "refused: needs --allow-production", kind="result"))

    _run_waves(request, selected, workspaces, terraform, interruption, emit, confirm)

    if interruption.signal is not None:  # interrupted
        name = signal.Signals(interruption.signal).name
        for workspace in workspaces.values():
            if workspace.result is None:
                workspace.discard_plan()
                workspace.finish(Result.SKIPPED, f"not run: interrupted by {name}")
    results = tuple(workspaces[e.name].frozen(request.action, terraform.role_name) for e in selected)
    return RunReport(action=request.action, results=results, synthesis=synthesis, role=terraform.role_name,
                     run_id=run_id, interrupted_by=interruption.signal)


def _run_waves(request: RunRequest, selected: tuple[Environment, ...], workspaces: dict[str, _Workspace],
               terraform: _Terraform, interruption: Interruption, emit: EventCallback,
               confirm: ConfirmCallback | None) -> None:
    with ThreadPoolExecutor(max_workers=request.jobs, thread_name_prefix="terraform") as pool:
        try:
            _run_groups(request, selected, workspaces, terraform, interruption, emit, confirm, pool)
        except KeyboardInterrupt:
            # Terraform runs in its own session, so the terminal's Ctrl-C did not reach it: unless a
            # signal handler already passed it on (the CLI's), interrupt it cleanly before the pool
            # waits for it. Never twice: a second interrupt kills.
            if not interruption.interrupted:
                interruption.interrupt(signal.SIGINT)
            raise


def _run_groups(request: RunRequest, selected: tuple[Environment, ...], workspaces: dict[str, _Workspace],
                terraform: _Terraform, interruption: Interruption, emit: EventCallback,
                confirm: ConfirmCallback | None, pool: ThreadPoolExecutor) -> None:
    for group in waves(selected, request.action):
        ready = []
        for environment in group:
            workspace = workspaces[environment.name]
            if workspace.result is not None:
                continue
            blocking = [d for d in dependencies(environment, selected, request.action)
                        if workspaces[d].result is not Result.OK]
            if blocking:
                reason = ", ".join(f"{d} {(workspaces[d].result or Result.SKIPPED).value}" for d in blocking)
                workspace.finish(Result.SKIPPED, reason)
                emit(Event(workspace.name, request.action, f"skipped: {reason}", kind="result"))
                continue
            ready.append(workspace)
        show = not request.auto_approve
        # Every init of the wave before any plan: an init re-links the shared plugin cache, and a
        # plan reading the provider through it at that moment fails ("could not read package
        # directory"), so init never overlaps another workspace's terraform.
        for workspace in ready:
            terraform.init(workspace)
        initialized = [w for w in ready if w.result is None]
        _parallel(pool, initialized, lambda w: terraform.prepare(w, show and w.environment.kind is AccountKind.PRODUCTION))
        if request.action == "plan":
            continue
        pending = [w for w in initialized if w.result is None]
        if interruption.interrupted:
            approved: list[_Workspace] = []
        elif request.auto_approve:
            approved = pending
        else:
            assert confirm is not None
            approved = _confirmed(pending, request.action, confirm, emit)
        _parallel(pool, approved, terraform.apply)
        if interruption.interrupted:
            break


def _confirmed(pending: list[_Workspace], action: str, confirm: ConfirmCallback,
               emit: EventCallback) -> list[_Workspace]:
    """Ask once per production workspace (showing its plan), then once for all the others."""
    approved: list[_Workspace] = []
    production = [w for w in pending if w.environment.kind is AccountKind.PRODUCTION]
    others = [w for w in pending if w.environment.kind is not AccountKind.PRODUCTION]
    batches = [([w], True) for w in production] + ([(others, False)] if others else [])
    for batch, is_production in batches:
        plans = tuple(PendingPlan(w.name, w.environment.account.name, is_production, w.planned or Changes(),
                                  w.plan_text) for w in batch)
        if confirm(Confirmation(action, plans, is_production)):
            approved += batch
            continue
        for workspace in batch:
            workspace.discard_plan()
            workspace.finish(Result.SKIPPED, "not confirmed")
            emit(Event(workspace.name, action, "skipped: not confirmed", kind="result"))
    return approved


def _parallel(pool: ThreadPoolExecutor, workspaces: list[_Workspace], step: Callable[[_Workspace], None]) -> None:
    def guarded(workspace: _Workspace) -> None:
        try:
            step(workspace)
        except Exception as exc:  # one workspace's surprise must not take the others down
            workspace.finish(Result.FAILED, f"{type(exc).__name__}: {exc}")

    futures = [pool.submit(guarded, w) for w in workspaces]
    try:
        wait(futures)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()  # queued ones never start; running terraforms are in their own sessions
        raise
