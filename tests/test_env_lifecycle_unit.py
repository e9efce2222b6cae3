"""The pure parts of env_lifecycle, called directly on the example organization: naming an environment
by its branch, where its created time comes from, which environments are development ones."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from conftest import EXAMPLE_ENVIRONMENTS, MODULES
from generators.config.models import AccountKind
from generators.config.organization import load_organization
from generators.envs.dev_envs import StateObjects
from generators.envs.lifecycle import created, development, resolve_name
from generators.errors import UsageError

pytestmark = pytest.mark.fast


@pytest.fixture(scope="module")
def organization():
    return load_organization(EXAMPLE_ENVIRONMENTS, MODULES)


def test_development_environments_are_those_of_development_accounts(organization):
    names = {e.name for e in development(organization)}
    assert names == {e.name for e in organization.environments if e.kind is AccountKind.DEVELOPMENT}
    assert {"dev", "feature-checkout", "hotfix-login"} <= names and "production" not in names


def test_a_name_is_taken_as_given_and_a_branch_finds_its_environment(organization):
    assert resolve_name(organization, "anything", "ignored") == "anything"
    branched = next(e for e in organization.environments if e.branch)
    assert resolve_name(organization, None, branched.branch) == branched.name


def test_an_unknown_branch_gets_the_name_env_create_would_give_it(organization):
    assert resolve_name(organization, None, "Feature/JIRA-123_New Thing") == "feature-jira-123-new-thing"


def test_neither_name_nor_branch_is_a_usage_error(organization):
    with pytest.raises(UsageError, match="give NAME or --branch"):
        resolve_name(organization, None, None)


def test_created_comes_from_the_file_else_from_the_first_deploy(organization):
    environment = next(e for e in development(organization) if e.uses)
    first = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
    state = StateObjects(exists=True, first_written=first, last_modified=first)
    in_file = dataclasses.replace(environment, created="2026-02-01T00:00:00Z")
    assert created(in_file, state) == ("2026-02-01T00:00:00Z", "file")
    not_in_file = dataclasses.replace(environment, created=None)
    assert created(not_in_file, state) == ("2026-03-01T09:30:00Z", "first deploy")
    assert created(not_in_file, None) == (None, None)
