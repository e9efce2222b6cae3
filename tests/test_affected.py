"""Change detection (`affected`) on real git repositories holding a copy of the example organization.

Each test commits the example organization, changes something (committed, in the working tree, or as
an untracked file) and asks which environments the change affects since the first commit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import copy_project
from generators.config.organization import load_organization
from generators.errors import UsageError
from generators.review.affected import Affected, _parse_hunks, _unquote, affected_environments

ALL = {"alice", "bob", "dev", "feature-checkout", "hotfix-login", "preprod", "production", "qa", "uat"}
CALLS_API = ALL - {"dev"}
BASE = "base"


# -- helpers ---------------------------------------------------------------------------------------------


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    completed = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.test", "-c", "commit.gpgsign=false",
         "-C", str(root), *args], capture_output=True, text=True, env=env, check=True)
    return completed.stdout


def commit(root: Path, message: str = "change") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def make_repo(root: Path) -> Path:
    """A git repository with the example organization, a README and a test file, tagged `base`."""
    copy_project(root)
    (root / "README.md").write_text("# infrastructure\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_something.py").write_text("def test_nothing():\n    pass\n")
    git(root, "init", "-q", "-b", "main")
    commit(root, "the example organization")
    git(root, "tag", BASE)
    return root


@pytest.fixture
def repo(tmp_path) -> Path:
    return make_repo(tmp_path / "repo")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def affected(root: Path, ref: str = BASE, **kwargs) -> dict[str, Affected]:
    organization = load_organization(root / "environments", root / "modules")
    result = affected_environments(organization, root / "environments", root / "modules", ref, **kwargs)
    assert [a.environment for a in result] == sorted(a.environment for a in result)
    return {a.environment: a for a in result}


def planned(result: dict[str, Affected]) -> set[str]:
    return {name for name, entry in result.items() if not entry.removed}


# -- the rules -------------------------------------------------------------------------------------------


OVERRIDE = ('  layout  = "full-stack"\n',
            '  layout  = "full-stack"\n\n  module "api" {\n    inputs = {\n      bucket_name = "qa-static-assets"\n'
            '    }\n  }\n')


def test_a_module_input_change_affects_exactly_that_environment(repo):
    edit(repo / "environments/qa.hcl", *OVERRIDE)
    commit(repo)

    result = affected(repo)

    assert set(result) == {"qa"}
    assert result["qa"].reasons == ("definition changed (environments/qa.hcl)",)
    assert not result["qa"].removed


def test_affected_entries_carry_what_ci_needs(repo):
    edit(repo / "environments/qa.hcl", *OVERRIDE)
    commit(repo)

    entry = affected(repo)["qa"].as_dict()

    assert entry == {
        "environment": "qa",
        "reasons": ["definition changed (environments/qa.hcl)"],
        "removed": False,
        "account": "qa",
        "account_id": "300000000002",
        "kind": "staging",
        "region": "us-east-1",
        "plan_role_arn": "arn:aws:iam::300000000002:role/TerraformPlan",
        "deploy_role_arn": "arn:aws:iam::300000000002:role/TerraformDeploy",
        "state_bucket": "acme-tfstate-300000000002",
        "state_key": "qa/terraform.tfstate",
    }


def test_a_module_change_affects_every_environment_calling_it(repo):
    with (repo / "modules/api/main.tf").open("a") as stream:
        stream.write("\n# a change to the api module\n")
    commit(repo)

    result = affected(repo)

    assert set(result) == CALLS_API
    assert result["preprod"].reasons == ("module 'api' changed (modules/api/main.tf)",)
    # feature-checkout calls api itself; dev (which it uses) is not affected, so no "uses dev".
    assert result["feature-checkout"].reasons == ("module 'api' changed (modules/api/main.tf)",)


def test_module_documentation_affects_nothing(repo):
    with (repo / "modules/api/README.md").open("a") as stream:
        stream.write("\nMore documentation.\n")
    commit(repo)

    assert affected(repo) == {}


def test_an_organization_change_affects_every_environment(repo):
    edit(repo / "environments/organization.hcl", 'plan_role   = "TerraformPlan"', 'plan_role   = "TerraformReadOnly"')
    commit(repo)

    result = affected(repo)

    assert set(result) == ALL
    assert "organization block changed (environments/organization.hcl)" in result["production"].reasons
    assert result["qa"].plan_role_arn == "arn:aws:iam::300000000002:role/TerraformReadOnly"


def test_an_account_change_affects_the_environments_in_that_account(repo):
    edit(repo / "environments/accounts.hcl", 'email = "aws+dev@acme.test"', 'email = "aws+development@acme.test"')
    commit(repo)

    result = affected(repo)

    assert set(result) == {"dev", "feature-checkout", "hotfix-login"}
    assert all("account 'dev' changed (environments/accounts.hcl)" in result[n].reasons for n in result)


def test_removed_lines_are_mapped_with_the_old_version_of_the_file(repo):
    # Only lines are removed: they exist in the old file alone, inside account "uat"'s block.
    edit(repo / "environments/accounts.hcl", '  email = "aws+uat@acme.test"\n', "")
    commit(repo)

    assert set(affected(repo)) == {"uat"}


def test_comments_between_blocks_affect_nothing(repo):
    edit(repo / "environments/accounts.hcl", "# One playground account per developer.",
         "# One playground account per developer, who owns it.")
    commit(repo)

    assert affected(repo) == {}


def test_a_change_to_an_environment_affects_the_environments_that_use_it(repo):
    edit(repo / "environments/dev.hcl", '  account = "dev"\n', '  account = "dev"\n  region  = "us-east-1"\n')
    commit(repo)

    result = affected(repo)

    assert set(result) == {"dev", "feature-checkout", "hotfix-login"}
    assert result["dev"].reasons == ("definition changed (environments/dev.hcl)",)
    assert result["feature-checkout"].reasons == ("uses dev",)
    assert result["hotfix-login"].reasons == ("uses dev",)


def test_an_account_change_affects_environments_whose_providers_point_into_it(repo):
    edit(repo / "environments/feature-checkout.hcl", '  branch  = "feature/checkout"\n',
         '  branch  = "feature/checkout"\n\n  provider "audit" {\n    account = "qa"\n  }\n')
    commit(repo, "feature-checkout reads from qa")
    git(repo, "tag", "-f", BASE)
    edit(repo / "environments/accounts.hcl", 'email = "aws+qa@acme.test"', 'email = "aws+quality@acme.test"')
    commit(repo)

    result = affected(repo)

    assert set(result) == {"qa", "feature-checkout"}
    assert result["feature-checkout"].reasons == (
        "account 'qa' changed (environments/accounts.hcl): provider 'audit' points into it",)


def test_unrelated_changes_affect_nothing(repo, cli):
    (repo / "README.md").write_text("# infrastructure\n\nHow to change it.\n")
    (repo / "tests" / "test_something.py").write_text("def test_nothing():\n    assert True\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "runbook.md").write_text("Runbook.\n")
    commit(repo)

    assert affected(repo) == {}
    result = cli("affected", "--changed-since", BASE, "--json", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    human = cli("affected", "--changed-since", BASE, cwd=repo)
    assert human.returncode == 0
    assert "No environment is affected" in human.stdout


def test_a_deleted_environment_is_reported_as_removed(repo, cli):
    (repo / "environments/feature-checkout.hcl").unlink()
    commit(repo)

    result = affected(repo)

    assert set(result) == {"feature-checkout"}
    removed = result["feature-checkout"]
    assert removed.removed
    assert removed.reasons == ("definition deleted (environments/feature-checkout.hcl)",)
    # Where its orphaned state is: the account it was in is still defined.
    assert (removed.account, removed.state_bucket, removed.state_key) == (
        "dev", "acme-tfstate-400000000001", "feature-checkout/terraform.tfstate")

    entries = json.loads(cli("affected", "--changed-since", BASE, "--json", cwd=repo).stdout)
    assert [(e["environment"], e["removed"]) for e in entries] == [("feature-checkout", True)]
    human = cli("affected", "--changed-since", BASE, cwd=repo).stdout
    assert "removed" in human and "s3://acme-tfstate-400000000001/feature-checkout/terraform.tfstate" in human


def test_a_renamed_environment_is_one_removed_and_one_new(repo):
    source = repo / "environments/hotfix-login.hcl"
    source.write_text(source.read_text().replace('environment "hotfix-login"', 'environment "hotfix-signin"'))
    source.rename(repo / "environments/hotfix-signin.hcl")
    commit(repo)

    result = affected(repo)

    assert planned(result) == {"hotfix-signin"}
    assert result["hotfix-signin"].reasons == ("new environment, defined (environments/hotfix-signin.hcl)",)
    assert result["hotfix-login"].removed  # its state key was hotfix-login/terraform.tfstate


def test_working_tree_and_untracked_changes_count(repo):
    edit(repo / "environments/qa.hcl", *OVERRIDE)
    new = (repo / "environments/feature-search.hcl")
    new.write_text((repo / "environments/hotfix-login.hcl").read_text()
                   .replace('"hotfix-login"', '"feature-search"').replace("hotfix/login", "feature/search"))

    result = affected(repo)

    assert set(result) == {"qa", "feature-search"}
    assert result["feature-search"].reasons == ("new environment, defined (environments/feature-search.hcl)",)


def test_one_file_with_several_environments_maps_lines_to_blocks(repo):
    # Move uat into qa.hcl: one file, two environment blocks.
    qa = repo / "environments/qa.hcl"
    qa.write_text(qa.read_text() + "\n" + (repo / "environments/uat.hcl").read_text())
    (repo / "environments/uat.hcl").unlink()
    commit(repo, "qa and uat in one file")
    git(repo, "tag", "-f", BASE)
    text = qa.read_text()
    second = text.index('environment "uat"')
    qa.write_text(text[:second] + text[second:].replace(*OVERRIDE))
    commit(repo)

    assert set(affected(repo)) == {"uat"}


def test_a_recorded_account_id_change_affects_that_account(repo):
    edit(repo / "environments/accounts.hcl", '  id    = "300000000003"\n', "")
    (repo / "environments/account-ids.generated.json").write_text(json.dumps({"accounts": {"uat": "300000000003"}}))
    commit(repo, "uat was created by bootstrap")
    git(repo, "tag", "-f", BASE)
    (repo / "environments/account-ids.generated.json").write_text(json.dumps({"accounts": {"uat": "300000000009"}}))
    commit(repo)

    result = affected(repo)

    assert set(result) == {"uat"}
    assert result["uat"].reasons == ("recorded id of account 'uat' changed (environments/account-ids.generated.json)",)


def test_a_recorded_id_is_changed_when_the_file_it_replaces_was_unreadable(repo):
    edit(repo / "environments/accounts.hcl", '  id    = "300000000003"\n', "")
    (repo / "environments/account-ids.generated.json").write_text('{"accounts": {"uat": "300000000003",}}')
    commit(repo, "a hand edit broke the file")
    git(repo, "tag", "-f", BASE)
    (repo / "environments/account-ids.generated.json").write_text(json.dumps({"accounts": {"uat": "300000000003"}}))
    commit(repo)

    # Nothing could be read before, so the id counts as changed: more is planned, never less.
    assert set(affected(repo)) == {"uat"}


def test_a_change_to_the_generator_in_the_same_repository_affects_everything(repo):
    generator = repo / "generators"
    generator.mkdir()
    (generator / "workspace.py").write_text("TAGS = {}\n")
    (generator / "notes.txt").write_text("not code\n")
    commit(repo, "vendored generator")
    git(repo, "tag", "-f", BASE)
    (generator / "notes.txt").write_text("still not code\n")
    commit(repo)
    assert affected(repo, generator_package=generator) == {}

    (generator / "workspace.py").write_text("TAGS = {'Team': 'platform'}\n")
    commit(repo)
    result = affected(repo, generator_package=generator)
    assert set(result) == ALL
    assert result["qa"].reasons == ("generator changed (generators/workspace.py)",)


def test_fifty_environments_one_file_changed_is_one_environment_affected(repo):
    template = (repo / "environments/hotfix-login.hcl").read_text()
    for number in range(41):
        name = f"feature-{number:02d}"
        (repo / f"environments/{name}.hcl").write_text(
            template.replace('"hotfix-login"', f'"{name}"').replace("hotfix/login", f"feature/{number:02d}"))
    commit(repo, "50 environments")
    git(repo, "tag", "-f", BASE)
    organization = load_organization(repo / "environments", repo / "modules")
    assert len(organization.environments) == 50
    edit(repo / "environments/feature-17.hcl", 'ttl     = "7d"', 'ttl     = "14d"')
    commit(repo)

    started = time.perf_counter()
    result = affected_environments(organization, repo / "environments", repo / "modules", BASE)
    elapsed = time.perf_counter() - started

    assert [a.environment for a in result] == ["feature-17"]
    assert result[0].reasons == ("definition changed (environments/feature-17.hcl)",)
    assert elapsed < 5, f"change detection took {elapsed:.1f} s"


# -- errors ------------------------------------------------------------------------------------------------


def test_an_unknown_revision_is_a_usage_error(repo, cli):
    with pytest.raises(UsageError, match="unknown git revision 'origin/nope'"):
        affected(repo, "origin/nope")
    result = cli("affected", "--changed-since", "origin/nope", cwd=repo)
    assert result.returncode == 2
    assert "unknown git revision" in result.stderr


def test_outside_a_git_repository_is_a_usage_error(tmp_path, cli):
    copy_project(tmp_path)
    with pytest.raises(UsageError, match="not inside a git repository"):
        affected(tmp_path, "HEAD")
    result = cli("affected", "--changed-since", "HEAD", cwd=tmp_path)
    assert result.returncode == 2


def test_changed_since_is_required(repo, cli):
    result = cli("affected", cwd=repo)
    assert result.returncode == 2
    assert "--changed-since" in result.stderr


def test_an_environments_folder_below_the_repository_root(tmp_path, cli):
    # The repository root is found with git: environments may live in a sub-folder of it.
    root = tmp_path / "repo"
    make_repo(root / "infra")
    shutil.move(str(root / "infra" / ".git"), str(root / ".git"))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "move into infra/")
    git(root, "tag", "-f", BASE)
    edit(root / "infra/environments/qa.hcl", *OVERRIDE)

    result = cli("--environments", "infra/environments", "--modules", "infra/modules", "affected",
                 "--changed-since", BASE, "--json", cwd=root)

    assert result.returncode == 0, result.stderr
    assert [(e["environment"], e["reasons"]) for e in json.loads(result.stdout)] == [
        ("qa", ["definition changed (infra/environments/qa.hcl)"])]


# -- the diff parser ----------------------------------------------------------------------------------------


def test_hunk_lines_that_look_like_headers_are_content():
    patch = "\n".join([
        "diff --git a/environments/a.hcl b/environments/a.hcl",
        "index 1111111..2222222 100644",
        "--- a/environments/a.hcl",
        "+++ b/environments/a.hcl",
        "@@ -3,2 +3 @@ environment \"a\" {",
        "--- a comment that starts with two dashes",
        "-+++ and one with pluses",
        "+  region = \"us-east-1\"",
        "@@ -10,0 +11,2 @@",
        "+one",
        "+two",
        "diff --git \"a/environments/caf\\303\\251.hcl\" \"b/environments/caf\\303\\251.hcl\"",
        "--- \"a/environments/caf\\303\\251.hcl\"",
        "+++ \"b/environments/caf\\303\\251.hcl\"",
        "@@ -1 +1 @@",
        "-x",
        "\\ No newline at end of file",
        "+y",
    ])

    assert _parse_hunks(patch) == {
        "environments/a.hcl": (((3, 4),), ((3, 3), (11, 12))),
        "environments/café.hcl": (((1, 1),), ((1, 1),)),
    }


@pytest.mark.fast
def test_unquote_undoes_gits_quoting():
    assert _unquote('"a/with\\ttab \\"quoted\\".hcl"') == 'a/with\ttab "quoted".hcl'
    assert _unquote("b/plain.hcl") == "b/plain.hcl"


def test_a_layout_change_affects_the_environments_that_name_it(repo):
    edit(repo / "environments/layouts.hcl", "      table_name  = uses.infra.table_name\n",
         "      table_name  = uses.infra.table_name # read from dev\n")
    commit(repo)

    result = affected(repo)

    assert set(result) == {"feature-checkout", "hotfix-login"}
    assert result["hotfix-login"].reasons == ("layout 'branch-api' changed (environments/layouts.hcl)",)
