"""Pull-request plan review: real terraform plans against a real moto server, and the pure rendering.

One deployment (production, dev with a small `settings` module holding a sensitive input and output,
and feature-checkout) is made once for the terraform tests of this file; each test plans its own copy
of that deployed project after editing its environment files. Plans only read, so the copies share
the deployed state safely.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, MODULES
from generators.config.models import AccountKind
from generators.errors import EXIT_DANGER, EXIT_FAILURE, DangerError
from generators.review.orphans import Orphan, count_state_resources
from generators.review.render import (COMMENT_MARKER, GITHUB_COMMENT_LIMIT, MARKDOWN_BUDGET, markdown_cell,
                                      markdown_code, render_json, render_markdown)
from generators.review.review import (STATEFUL_RESOURCE_TYPES, EnvironmentReview, ResourceChange, Review, Severity,
                                      action_of, flags_for, summarize_plan)
from generators.run.model import Result
from generators.run.runner import run
from generators.terraform_cli import terraform_environment
from test_runner import create_state_buckets, main_py, make_project, organization_of, request

SECRET = "hunter2-SECRET-7f3a9c-never-in-a-review"
FIRST_SECRET = "first-secret-0b1c2d"
PLAN_ROLE = "TerraformPlan"
DEPLOY_ROLE = "TerraformDeploy"

SETTINGS_MODULE = {
    "variables.tf": """
variable "name_prefix" {
  type = string
}

variable "greeting" {
  type = string
}

variable "secret" {
  type      = string
  sensitive = true
}
""",
    "main.tf": """
resource "aws_ssm_parameter" "greeting" {
  name  = "/${var.name_prefix}/settings/greeting"
  type  = "String"
  value = var.greeting
}

resource "aws_ssm_parameter" "secret" {
  name  = "/${var.name_prefix}/settings/secret"
  type  = "SecureString"
  value = var.secret
}
""",
    "outputs.tf": """
output "secret" {
  value     = var.secret
  sensitive = true
}
""",
    "versions.tf": """
terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}
""",
}

DEV = """
environment "dev" {
  account = "dev"

  module "infra" {
    source = "infrastructure"
  }

  module "settings" {
    source = "settings"
    inputs = {
      greeting = "%(greeting)s"
      secret   = "%(secret)s"
    }
  }
}
"""

# production without its infra module: the api module gets the same names as literals.
PRODUCTION_WITHOUT_INFRA = """
environment "production" {
  account = "prod"

  module "api" {
    source = "api"
    inputs = {
      table_name  = "production-notes"
      bucket_name = "production-uploads-200000000001"
    }
  }
}
"""


# -- the deployment shared by this file's terraform tests -------------------------------------------


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, moto_server, terraform_env, terraform_cache):
    """production, dev (+ settings) and feature-checkout deployed with the deploy role, once."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=30).read()
    env = {name: value for name, value in os.environ.items()
           if name not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")}
    env.update({"AWS_ENDPOINT_URL": moto_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ORG_WORKSPACES_CACHE": str(terraform_cache)})
    env.update({k: v for k, v in terraform_env.items() if k.startswith("TF_") or k == "CHECKPOINT_DISABLE"})
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        project = make_project(tmp_path_factory.mktemp("review"), keep=("production", "dev", "feature-checkout"))
        settings = project / "modules" / "settings"
        settings.mkdir()
        for name, text in SETTINGS_MODULE.items():
            (settings / name).write_text(text)
        (project / "environments" / "dev.hcl").write_text(DEV % {"greeting": "hello", "secret": FIRST_SECRET})
        create_state_buckets(organization_of(project))
        report = run(request(project, "deploy", all_environments=True, auto_approve=True, allow_production=True,
                             jobs=3))
        assert {r.environment: r.result for r in report.results} == {
            "production": Result.OK, "dev": Result.OK, "feature-checkout": Result.OK}, report
        yield project, env


@pytest.fixture
def project(deployed, tmp_path, monkeypatch):
    """A private copy of the deployed project (configuration, modules, stack folders), same AWS."""
    source, env = deployed
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    copy = tmp_path / "project"
    shutil.copytree(source, copy, symlinks=True)
    return copy


def plan(project: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, dict, str]:
    """`plan ARGS --json --markdown`: the process, the JSON review and the markdown review."""
    json_file, markdown_file = project / "review.json", project / "review.md"
    done = main_py(project, env, "plan", *args, "--json", str(json_file), "--markdown", str(markdown_file),
                   "--jobs", "3")
    review = json.loads(json_file.read_text()) if json_file.exists() else {}
    markdown = markdown_file.read_text() if markdown_file.exists() else ""
    return done, review, markdown


def environments(review: dict) -> dict[str, dict]:
    return {e["environment"]: e for group in review["accounts"] for e in group["environments"]}


def counts(entry: dict) -> tuple[int, int, int, int]:
    return entry["add"], entry["change"], entry["destroy"], entry["replace"]


def backend_role(stack: Path) -> str:
    return json.loads((stack / ".terraform" / "terraform.tfstate").read_text())["backend"]["config"]["assume_role"][
        "role_arn"]


def rendered_plan(project: Path, name: str) -> Path:
    """The `terraform show -json` rendering of the environment's saved plan, kept beside it."""
    [rendered] = (project / "cdktf.out" / ".runs" / name).glob("*.json")
    return rendered


def caller_arns(plan_json: Path) -> set[str]:
    """What the providers actually assumed: the modules' aws_caller_identity data sources, read by the test."""
    prior = json.loads(plan_json.read_text())["prior_state"]["values"]["root_module"]
    return {r["values"]["arn"] for module in prior.get("child_modules", []) for r in module["resources"]
            if r["type"] == "aws_caller_identity"}


# -- against moto ----------------------------------------------------------------------------------


@pytest.mark.terraform
def test_one_changed_input_plans_one_change_with_the_plan_role(deployed, project):
    _, env = deployed
    (project / "environments" / "dev.hcl").write_text(DEV % {"greeting": "hello again", "secret": FIRST_SECRET})

    done, review, markdown = plan(project, env, "--all")

    assert done.returncode == 0, done.stdout + done.stderr
    planned = environments(review)
    assert counts(planned["dev"]) == (0, 1, 0, 0)
    assert [c["address"] for c in planned["dev"]["changes"]] == ["module.settings.aws_ssm_parameter.greeting"]
    assert counts(planned["production"]) == counts(planned["feature-checkout"]) == (0, 0, 0, 0)
    assert planned["dev"]["status"] == "changes" and planned["production"]["status"] == "unchanged"
    assert review["danger"] == [] and review["notices"] == [] and review["orphans"] == []
    assert review["headline"] == "3 environments planned: 1 to change, 2 unchanged"
    assert [g["account"] for g in review["accounts"]] == ["dev", "prod"]  # grouped by account
    assert markdown.startswith(COMMENT_MARKER)
    assert "| dev (400000000001) | dev | TerraformPlan | 0 | 1 | 0 | 0 | 1 to change |" in markdown
    assert "| prod (200000000001) | production | TerraformPlan | 0 | 0 | 0 | 0 | no changes |" in markdown

    # The plan role, really: in the review, in the backend's configuration, and in what the provider assumed.
    stacks = project / "cdktf.out" / "stacks"
    for name, entry in planned.items():
        account_id = entry["account_id"]
        assert entry["account_id_verified"] is True
        assert (entry["role"], entry["role_arn"]) == (PLAN_ROLE, f"arn:aws:iam::{account_id}:role/{PLAN_ROLE}")
        assert backend_role(stacks / name) == f"arn:aws:iam::{account_id}:role/{PLAN_ROLE}"
        log = (stacks / name / "terraform.log").read_text()
        assert f'-backend-config=assume_role={{role_arn="arn:aws:iam::{account_id}:role/{PLAN_ROLE}"' in log
        assert f"-var=role_name={PLAN_ROLE}" in log
        # The saved plan is this run's own file, and the review records its checksum.
        plan_file = Path(entry["plan_file"])
        assert plan_file.parent == project / "cdktf.out" / ".runs" / name and plan_file.suffix == ".tfplan"
        assert entry["plan_sha256"] == hashlib.sha256(plan_file.read_bytes()).hexdigest()
    assert not list((project / "cdktf.out" / ".runs" / "production").glob("*.json"))  # nothing to do: not rendered
    assert planned["production"]["change_set"] == []
    assert [c["address"] for c in planned["dev"]["change_set"]] == ["module.settings.aws_ssm_parameter.greeting"]
    for name in ("dev",):  # an environment whose modules read aws_caller_identity, and that changed
        assert caller_arns(rendered_plan(project, name)) == {
            f"arn:aws:sts::{planned[name]['account_id']}:assumed-role/{PLAN_ROLE}/aws-org-workspaces-{name}"}


@pytest.mark.terraform
def test_changed_since_plans_only_what_the_change_affects(deployed, project):
    _, env = deployed
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    (project / ".gitignore").write_text("cdktf.out/\nreview.*\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "deployed"], check=True)
    (project / "environments" / "dev.hcl").write_text(DEV % {"greeting": "changed", "secret": FIRST_SECRET})

    done, review, markdown = plan(project, env, "--changed-since", "HEAD")

    assert done.returncode == 0, done.stdout + done.stderr
    planned = environments(review)
    assert sorted(planned) == ["dev", "feature-checkout"]  # dev, and what uses it; never production
    assert counts(planned["dev"]) == (0, 1, 0, 0) and counts(planned["feature-checkout"]) == (0, 0, 0, 0)
    assert "1 to change" in markdown
    subprocess.run([*git, "checkout", "-q", "--", "environments/dev.hcl"], check=True)
    unchanged = main_py(project, env, "plan", "--changed-since", "HEAD")
    assert unchanged.returncode == 0 and "nothing to plan" in unchanged.stdout


@pytest.mark.terraform
def test_sensitive_values_never_reach_the_review(deployed, project):
    _, env = deployed
    (project / "environments" / "dev.hcl").write_text(DEV % {"greeting": "hello", "secret": SECRET})

    done, review, markdown = plan(project, env, "dev")

    assert done.returncode == 0, done.stdout + done.stderr
    dev = environments(review)["dev"]
    assert counts(dev) == (0, 1, 0, 0)
    assert dev["output_changes"] == ["settings_secret"]  # the sensitive output changes; its name only
    plan_json = rendered_plan(project, "dev").read_text()
    assert SECRET in plan_json and FIRST_SECRET in plan_json  # terraform's JSON does hold them ...
    assert "`settings_secret`" in markdown and "module.settings.aws_ssm_parameter.secret" in markdown
    for text in (markdown, json.dumps(review), done.stdout, done.stderr):  # ... the review never
        assert SECRET not in text and FIRST_SECRET not in text
    assert SECRET not in (project / "cdktf.out" / "stacks" / "dev" / "terraform.log").read_text()
    assert oct(rendered_plan(project, "dev").stat().st_mode & 0o777) == "0o600"
    # The change set's digests cover the sensitive value (a changed secret is a different change set) ...
    [secret_change] = [c for c in dev["change_set"] if c["address"].endswith(".secret")]
    assert secret_change["actions"] == ["update"]
    assert SECRET not in json.dumps(dev["change_set"])  # ... without holding it


@pytest.mark.terraform
def test_destroying_stateful_resources_in_production_is_critical(deployed, project):
    _, env = deployed
    (project / "environments" / "production.hcl").write_text(PRODUCTION_WITHOUT_INFRA)

    done, review, markdown = plan(project, env, "production", "--fail-on-danger")

    assert done.returncode == EXIT_DANGER, done.stdout + done.stderr
    assert "danger flags: a stateful resource would be destroyed or replaced (--fail-on-danger)" in done.stderr
    production = environments(review)["production"]
    assert counts(production) == (0, 0, 6, 0) and production["status"] == "danger"
    assert {(f["address"], f["severity"], f["action"]) for f in review["danger"]} == {
        ("module.infra.aws_dynamodb_table.notes", "critical", "delete"),
        ("module.infra.aws_s3_bucket.uploads", "critical", "delete")}
    # The bucket's settings are not stateful themselves, but any production change is called out.
    [notice] = review["notices"]
    assert notice["severity"] == "notice" and "4 to destroy" in notice["reason"]
    assert "3 outputs to change" in notice["reason"]
    assert review["headline"] == "1 environment planned: 1 with danger"
    assert "CRITICAL  production [prod 200000000001]: delete module.infra.aws_dynamodb_table.notes" in done.stdout

    danger = markdown.split("### Danger", 1)[1].split("###", 1)[0]
    assert "| 🛑 **critical** | production | prod (200000000001) | delete | `module.infra.aws_dynamodb_table.notes` |" \
        in danger
    assert "`module.infra.aws_s3_bucket.uploads`" in danger
    assert markdown.index("### Danger") < markdown.index("### Environments") < markdown.index("<details>")
    assert "🛑 danger: 6 to destroy" in markdown


@pytest.mark.terraform
def test_a_failed_plan_is_reported_and_the_others_complete(deployed, project):
    _, env = deployed
    (project / "environments" / "production.hcl").write_text(PRODUCTION_WITHOUT_INFRA)
    # alice's account holds no state bucket: its init fails.
    shutil.copy(EXAMPLE_ENVIRONMENTS / "alice.hcl", project / "environments" / "alice.hcl")

    done, review, markdown = plan(project, env, "production", "alice", "--fail-on-danger")

    assert done.returncode == EXIT_FAILURE, done.stdout + done.stderr  # a failure wins over danger
    planned = environments(review)
    assert planned["alice"]["result"] == "failed" and "does not exist" in planned["alice"]["message"]
    assert planned["production"]["result"] == "ok" and counts(planned["production"]) == (0, 0, 6, 0)
    assert len(review["danger"]) == 2
    assert review["headline"] == "2 environments planned: 1 failed, 1 with danger"
    assert "| alice (500000000001) | alice | TerraformPlan | - | - | - | - | ❌ failed: init:" in markdown


@pytest.mark.terraform
def test_a_deleted_environment_is_an_orphan_and_deploy_role_reconfigures(deployed, project):
    _, env = deployed
    (project / "environments" / "feature-checkout.hcl").unlink()
    # As a pull-request plan would have left it: the backend configured with the plan role.
    stack = project / "cdktf.out" / "stacks" / "dev"
    plan_backend = f'assume_role={{role_arn="arn:aws:iam::400000000001:role/{PLAN_ROLE}",session_name="aws-org-workspaces-dev"}}'
    init = subprocess.run(["terraform", "init", "-input=false", "-no-color", "-reconfigure",
                           f"-backend-config={plan_backend}"], cwd=stack, capture_output=True, text=True,
                          env=terraform_environment(Path(env["AWS_ORG_WORKSPACES_CACHE"])))
    assert init.returncode == 0, init.stdout + init.stderr
    assert backend_role(stack) == f"arn:aws:iam::400000000001:role/{PLAN_ROLE}"

    done, review, markdown = plan(project, env, "dev", "--role", "deploy")

    assert done.returncode == 0, done.stdout + done.stderr
    assert backend_role(stack) == f"arn:aws:iam::400000000001:role/{DEPLOY_ROLE}"  # -reconfigure, back to default
    dev = environments(review)["dev"]
    assert (dev["role"], counts(dev)) == (DEPLOY_ROLE, (0, 0, 0, 0))
    assert review["orphans"] == [{
        "environment": "feature-checkout", "account": "dev", "account_id": "400000000001",
        "bucket": "acme-tfstate-400000000001", "key": "feature-checkout/terraform.tfstate", "resources": 4,
        "last_modified": review["orphans"][0]["last_modified"]}]
    assert review["orphan_scan_problems"] == []
    assert review["headline"] == "1 environment planned: 1 unchanged; 1 orphaned state"
    assert ("- **feature-checkout** in dev (400000000001): 4 resources still in "
            "`s3://acme-tfstate-400000000001/feature-checkout/terraform.tfstate`") in markdown
    assert "ORPHAN  feature-checkout [dev 400000000001]: 4 resources" in done.stdout
    assert not (project / "cdktf.out" / "stacks" / "feature-checkout").exists()  # synth removed its stack


def test_the_plan_role_cannot_deploy():
    from generators.config.organization import load_organization
    from generators.errors import UsageError
    from generators.run.model import RunRequest
    from generators.run.selection import check_request, select_environments

    organization = load_organization(EXAMPLE_ENVIRONMENTS, MODULES)
    selected = select_environments(organization, ["dev"], False, "deploy")
    with pytest.raises(UsageError, match="the plan role is read-only"):
        check_request(organization, selected, RunRequest(organization, Path("m"), Path("o"), "deploy", ("dev",),
                                                         role="plan"))
    with pytest.raises(UsageError, match="unknown role 'admin'"):
        check_request(organization, selected, RunRequest(organization, Path("m"), Path("o"), "plan", ("dev",),
                                                         role="admin"))
    assert DangerError("x").exit_code == EXIT_DANGER == 3


# -- pure parts --------------------------------------------------------------------------------------


def change(address: str, action: str = "delete") -> ResourceChange:
    return ResourceChange(address, address.split(".")[-2], action)


def environment_review(name: str, kind: AccountKind, changes=(), **fields) -> EnvironmentReview:
    account_id = {"production": "200000000001", "staging": "300000000001"}.get(kind.value, "400000000001")
    return EnvironmentReview(name, name, account_id, kind.value, PLAN_ROLE, f"arn:aws:iam::{account_id}:role/x",
                             fields.pop("result", "ok"), changes=tuple(changes),
                             flags=flags_for(name, name, account_id, kind, changes), **fields)


@pytest.mark.fast
def test_replace_is_either_order_and_reads_are_not_changes():
    assert action_of(["delete", "create"]) == action_of(["create", "delete"]) == "replace"
    assert action_of(["no-op"]) is None and action_of(["read"]) is None
    assert action_of(["create"]) == "create" and action_of(["forget"]) == "forget"


def test_summarize_plan_reads_only_addresses_types_and_actions():
    plan = {
        "resource_changes": [
            {"address": "module.a.aws_s3_bucket.b", "mode": "managed", "type": "aws_s3_bucket",
             "change": {"actions": ["create", "delete"], "before": {"bucket": SECRET}, "after": {"bucket": SECRET}},
             "action_reason": "replace_because_cannot_update"},
            {"address": "data.aws_caller_identity.c", "mode": "data", "type": "aws_caller_identity",
             "change": {"actions": ["read"]}},
            {"address": "aws_sqs_queue.q", "mode": "managed", "type": "aws_sqs_queue", "change": {"actions": ["no-op"]}},
        ],
        "output_changes": {"token": {"actions": ["update"], "before": SECRET, "after": SECRET},
                           "same": {"actions": ["no-op"]}},
        "configuration": {"provider_config": {"aws": {"expressions": {
            "allowed_account_ids": {"constant_value": ["200000000001"]}}}}},
    }
    summary = summarize_plan(plan)
    assert summary.changes == (ResourceChange("module.a.aws_s3_bucket.b", "aws_s3_bucket", "replace",
                                              "replace_because_cannot_update"),)
    assert summary.output_changes == ("token",) and summary.account_ids == ("200000000001",)
    assert SECRET not in repr(summary)


@pytest.mark.fast
def test_severity_depends_on_the_account_kind():
    table, queue, role = (change("module.i.aws_dynamodb_table.t"), change("aws_sqs_queue.q", "replace"),
                          change("aws_iam_role.r"))
    for kind in (AccountKind.PRODUCTION, AccountKind.STAGING):
        flags = flags_for("e", "a", "1", kind, (table, queue))
        assert {f.severity for f in flags if f.address} == {Severity.CRITICAL}
    for kind in (AccountKind.DEVELOPMENT, AccountKind.DEVELOPER):
        assert {f.severity for f in flags_for("e", "a", "1", kind, (table, queue, role))} == {Severity.WARNING}
    # Outside production, a non-stateful destroy raises nothing; in production it is a notice.
    assert flags_for("e", "a", "1", AccountKind.STAGING, (role,)) == ()
    [notice] = flags_for("e", "a", "1", AccountKind.PRODUCTION, (role,))
    assert notice.severity is Severity.NOTICE and not notice.severity.is_danger and "1 to destroy" in notice.reason
    [only_outputs] = flags_for("e", "a", "1", AccountKind.PRODUCTION, (), ("out",))
    assert "1 output to change" in only_outputs.reason
    assert flags_for("e", "a", "1", AccountKind.PRODUCTION, ()) == ()
    # Updating a stateful resource in place is not a danger.
    assert flags_for("e", "a", "1", AccountKind.STAGING, (change("aws_s3_bucket.b", "update"),)) == ()


@pytest.mark.fast
def test_the_stateful_list():
    for required in ("aws_dynamodb_table", "aws_s3_bucket", "aws_db_instance", "aws_rds_cluster", "aws_kms_key",
                     "aws_efs_file_system", "aws_secretsmanager_secret", "aws_sqs_queue", "aws_fsx_lustre_file_system"):
        assert required in STATEFUL_RESOURCE_TYPES
    assert "aws_ssm_parameter" not in STATEFUL_RESOURCE_TYPES  # see the comment above the list
    assert all(t.startswith("aws_") for t in STATEFUL_RESOURCE_TYPES)


@pytest.mark.fast
def test_state_resource_count_counts_managed_instances():
    state = {"resources": [{"mode": "managed", "instances": [{}, {}]}, {"mode": "data", "instances": [{}]},
                           {"mode": "managed", "instances": [{}]}]}
    assert count_state_resources(state) == 3
    assert count_state_resources({}) == 0


@pytest.mark.fast
def test_table_cells_and_code_spans_are_escaped():
    assert markdown_cell("init: a | b `c`") == r"init: a \| b \`c\`"
    assert markdown_cell("one\ntwo") == "one two"
    assert markdown_code('aws_iam_role.r["a`b"]') == '``aws_iam_role.r["a`b"]``'
    assert markdown_code("a|b", in_table=True) == r"`a\|b`"
    review = Review(PLAN_ROLE, (environment_review("dev", AccountKind.DEVELOPMENT, result="failed",
                                                   message="Error: | pipes and `ticks`"),))
    markdown = render_markdown(review)
    row = next(line for line in markdown.splitlines() if line.startswith("| dev "))
    assert row.count("|") - row.count(r"\|") == 9  # eight cells, nothing split by the message
    assert r"\| pipes and \`ticks\`" in row


@pytest.mark.fast
def test_a_huge_review_is_cut_in_the_details_never_in_the_danger_section():
    many = [change(f"module.m.aws_iam_role.r{i:05d}", "create") for i in range(6000)]
    dangerous = [change(f"module.data.aws_s3_bucket.b{i:03d}") for i in range(150)]
    review = Review(PLAN_ROLE, (
        environment_review("production", AccountKind.PRODUCTION, dangerous + many[:3000]),
        environment_review("dev", AccountKind.DEVELOPMENT, many),
        environment_review("qa", AccountKind.STAGING),
    ), orphans=(Orphan("old", "dev", "400000000001", "b", "old/terraform.tfstate", 7),))
    assert len(render_json(review)) > GITHUB_COMMENT_LIMIT  # the JSON keeps everything

    markdown = render_markdown(review)

    assert len(markdown) <= MARKDOWN_BUDGET < GITHUB_COMMENT_LIMIT
    danger = markdown.split("### Danger", 1)[1].split("### ", 1)[0]
    for flag in dangerous:
        assert f"| 🛑 **critical** | production | production (200000000001) | delete | `{flag.address}` |" in danger
    assert "**old** in dev (400000000001): 7 resources" in markdown
    assert "| production (200000000001) | production |" in markdown  # the table survived
    assert "… and " in markdown and "more" in markdown
    assert "Shortened to stay under GitHub's 65,536-character comment limit" in markdown
    assert "Nothing was cut from the danger section" in markdown

    # Small enough: nothing is cut and there is no note.
    small = Review(PLAN_ROLE, (environment_review("dev", AccountKind.DEVELOPMENT, many[:5]),))
    assert "Shortened" not in render_markdown(small)
    assert "module.m.aws_iam_role.r00004" in render_markdown(small)


@pytest.mark.fast
def test_a_danger_list_too_long_for_any_comment_says_so():
    dangerous = [change(f"module.data.aws_s3_bucket.bucket_with_a_long_name_{i:05d}") for i in range(2000)]
    review = Review(PLAN_ROLE, (environment_review("production", AccountKind.PRODUCTION, dangerous),))
    markdown = render_markdown(review)
    assert len(markdown) <= MARKDOWN_BUDGET
    assert "The danger list alone exceeds GitHub's comment limit" in markdown


def test_change_sets_compare_actions_and_values_by_digest_only():
    from generators.review.plan_changes import change_set, differences

    def plan(value: str, outputs: str = "a") -> dict:
        return {"resource_changes": [
            {"address": "aws_ssm_parameter.p", "mode": "managed", "change": {
                "actions": ["update"], "before": {"value": "old"}, "after": {"value": value},
                "after_unknown": {}, "after_sensitive": {"value": True}}},
            {"address": "aws_iam_role.same", "mode": "managed", "change": {"actions": ["no-op"]}},
            {"address": "data.aws_caller_identity.c", "mode": "data", "change": {"actions": ["read"]}}],
            "output_changes": {"o": {"actions": ["update"], "before": "x", "after": outputs}}}

    reviewed = change_set(plan(SECRET))
    assert [e.address for e in reviewed] == ["aws_ssm_parameter.p", "output.o"]
    assert SECRET not in repr(reviewed)
    assert change_set(plan(SECRET)) == reviewed and differences(reviewed, change_set(plan(SECRET))) == []
    assert differences(reviewed, change_set(plan("other"))) == [
        "aws_ssm_parameter.p: update with different values than reviewed"]
    assert differences(reviewed, change_set(plan(SECRET, outputs="b"))) == [
        "output.o: update with different values than reviewed"]
    replaced = plan(SECRET)
    replaced["resource_changes"][0]["change"]["actions"] = ["delete", "create"]
    assert differences(reviewed, change_set(replaced)) == [
        "aws_ssm_parameter.p: reviewed as update, now delete/create"]
    assert differences(reviewed, ()) == ["aws_ssm_parameter.p: reviewed as update, now no change",
                                         "output.o: reviewed as update, now no change"]


def test_an_edited_or_foreign_review_file_is_a_usage_error(tmp_path):
    from generators.errors import UsageError
    from generators.review.plan_changes import change_set, change_set_digest, load_review

    entries = change_set({"resource_changes": [{"address": "aws_sqs_queue.q", "mode": "managed",
                                                "change": {"actions": ["create"], "before": None, "after": {}}}]})
    entry = {"environment": "dev", "account_id": "400000000001", "result": "ok",
             "change_set": [e.as_dict() for e in entries], "change_set_sha256": change_set_digest(entries)}
    review = tmp_path / "review.json"
    review.write_text(json.dumps({"accounts": [{"environments": [entry]}]}))
    assert load_review(review)["dev"].changes == entries

    entry["change_set"][0]["actions"] = ["delete"]  # someone made the review say something else
    review.write_text(json.dumps({"accounts": [{"environments": [entry]}]}))
    with pytest.raises(UsageError, match="does not match its change_set_sha256"):
        load_review(review)
    review.write_text("{not json")
    with pytest.raises(UsageError, match="is not a plan review"):
        load_review(review)
    with pytest.raises(UsageError, match="cannot read the review"):
        load_review(tmp_path / "missing.json")
