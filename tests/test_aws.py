"""The AWS layer: how clients are built, and the state bucket layout (keys composed and read back)."""

from __future__ import annotations

import pytest

from generators import naming
from generators.aws import clients as aws


@pytest.fixture
def offline(monkeypatch):
    """Credentials and a region for building clients; building one sends no request."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    return monkeypatch


# -- clients --------------------------------------------------------------------------------------------


def test_a_client_has_standard_retries_and_timeouts(offline):
    config = aws.client(aws.session(), "sts").meta.config
    # botocore counts the first attempt in total_max_attempts: retries + 1
    assert config.retries == {"mode": "standard", "total_max_attempts": aws.RETRIES + 1}
    assert (config.connect_timeout, config.read_timeout) == (aws.CONNECT_TIMEOUT, aws.READ_TIMEOUT)


def test_a_call_site_can_ask_for_other_retries_timeouts_and_region(offline):
    built = aws.client(aws.session("eu-west-1"), "dynamodb", "us-west-2", retries=5, connect_timeout=5, read_timeout=20)
    assert built.meta.region_name == "us-west-2"
    assert built.meta.config.retries == {"mode": "standard", "total_max_attempts": 6}
    assert (built.meta.config.connect_timeout, built.meta.config.read_timeout) == (5, 20)


def test_the_session_region_is_the_default(offline):
    assert aws.client(aws.session("ap-southeast-2"), "s3").meta.region_name == "ap-southeast-2"


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:5000", "http://localhost:4566", "http://[::1]:9000"])
def test_s3_is_addressed_by_path_on_a_local_endpoint(offline, endpoint):
    offline.setenv("AWS_ENDPOINT_URL", endpoint)
    s3 = aws.client(aws.session(), "s3")
    assert s3.meta.config.s3 == {"addressing_style": "path"}
    assert s3.meta.endpoint_url == endpoint


@pytest.mark.parametrize("endpoint", [None, "https://s3.example.com"])
def test_s3_keeps_the_default_addressing_elsewhere(offline, endpoint):
    if endpoint:
        offline.setenv("AWS_ENDPOINT_URL", endpoint)
    assert aws.client(aws.session(), "s3").meta.config.s3 is None


def test_sessions_share_the_parsed_service_models(offline):
    # The same parsed JSON, not an equal copy: each session would otherwise parse the models again.
    first, second = aws.session(), aws.session("us-west-2")
    assert (aws.client(first, "iam").meta.service_model.metadata
            is aws.client(second, "iam").meta.service_model.metadata)


# -- the state bucket layout ------------------------------------------------------------------------------


@pytest.mark.parametrize("environment", ["dev", "feature-checkout", "a", "x" * naming.ENVIRONMENT_NAME_MAX])
def test_a_state_key_reads_back_to_its_environment(environment):
    assert naming.state_key(environment) == f"{environment}/terraform.tfstate"
    assert naming.environment_of_state_key(naming.state_key(environment)) == environment


def test_the_lock_key_sits_next_to_the_state():
    assert naming.state_lock_key("dev") == "dev/terraform.tfstate.tflock"
    assert naming.environment_of_state_key(naming.state_lock_key("dev")) is None


@pytest.mark.parametrize("key", [
    "dev/terraform.tfstate.tflock",  # the lock, not the state
    "terraform.tfstate",  # no environment
    "/terraform.tfstate",  # an empty name
    "env:/dev/terraform.tfstate",  # a Terraform workspace's key
    "team/dev/terraform.tfstate",  # deeper than ours
    "dev/other.tfstate",
    "Dev/terraform.tfstate",  # not a valid environment name
    "9lives/terraform.tfstate",
    "dev\n/terraform.tfstate",
    "x" * (naming.ENVIRONMENT_NAME_MAX + 1) + "/terraform.tfstate",
    "notes.txt",
])
def test_a_key_that_is_not_an_environments_state_is_not_read_as_one(key):
    assert naming.environment_of_state_key(key) is None


def test_a_state_bucket_is_listed_as_environments_only(fresh_aws):
    s3 = aws.client(aws.session("us-east-1"), "s3")
    s3.create_bucket(Bucket="acme-tfstate-123456789012")
    keys = [naming.state_key("qa"), naming.state_lock_key("qa"), naming.state_key("dev"), "env:/x/terraform.tfstate",
            "README.txt"]
    for key in keys:
        s3.put_object(Bucket="acme-tfstate-123456789012", Key=key, Body=b"{}")
    states = aws.environment_states(s3, "acme-tfstate-123456789012")
    assert [(s.environment, s.key) for s in states] == [("dev", "dev/terraform.tfstate"),
                                                        ("qa", "qa/terraform.tfstate")]
    assert all(s.last_modified is not None for s in states)
