"""The error boundary's messages, from real failures: a real file system, real botocore clients (no
credentials, a closed port, the moto server's refusal), real jinja2 templates."""

from __future__ import annotations

import errno

import boto3
import jinja2
import pytest
from botocore.config import Config

from conftest import free_port
from generators.errors import EXIT_FAILURE, UsageError
from generators.failures import explain


def _raised(call) -> BaseException:
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the point is to look at it
        return exc
    raise AssertionError("nothing was raised")


@pytest.mark.fast
def test_file_system_errors_name_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "file.json"
    failure = explain(_raised(lambda: missing.read_text()))
    assert failure.exit_code == EXIT_FAILURE
    assert failure.message.startswith(f"{missing}: No such file or directory")
    a_file = tmp_path / "file"
    a_file.write_text("")
    failure = explain(_raised(lambda: (a_file / "x").mkdir()))
    assert f"{a_file / 'x'}: Not a directory (a file stands where a folder is expected)" == failure.message
    assert "a name is too long" in explain(OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300)).message


def test_no_credentials_names_the_endpoint_and_gives_a_hint(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.session.Session(region_name="us-east-1").client("sts")
    message = explain(_raised(client.get_caller_identity)).message
    assert message.startswith("no AWS credentials found for AWS's public endpoints")
    assert "AWS_PROFILE" in message and "demo --keep" in message


def test_an_unreachable_endpoint_is_named(monkeypatch):
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    client = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y").client(
        "s3", config=Config(retries={"max_attempts": 1}))
    message = explain(_raised(client.list_buckets)).message
    assert message.startswith(f"cannot reach AWS at {endpoint}") and "sandbox still running" in message


def test_aws_refusals_name_the_operation_and_the_endpoint(aws_env):
    client = boto3.client("s3")
    message = explain(_raised(lambda: client.get_object(Bucket="no-such-bucket-here", Key="k"))).message
    assert message.startswith("AWS refused GetObject (AWS_ENDPOINT_URL http://127.0.0.1:")
    assert "NoSuchBucket" in message


@pytest.mark.fast
def test_template_errors_name_the_template():
    environment = jinja2.Environment(loader=jinja2.DictLoader({"workflow.yml.j2": "{% for x in %}"}))
    message = explain(_raised(lambda: environment.get_template("workflow.yml.j2"))).message
    assert message.startswith("template workflow.yml.j2:1: TemplateSyntaxError")


@pytest.mark.fast
def test_anything_else_is_an_internal_error_with_the_way_to_the_traceback():
    failure = explain(_raised(lambda: {}["missing"]))
    assert failure.exit_code == EXIT_FAILURE
    assert failure.message == "internal error: KeyError: 'missing'; run with --debug for the traceback"


@pytest.mark.fast
@pytest.mark.parametrize("error", [UsageError("give NAME or --branch BRANCH")])
def test_the_projects_own_errors_keep_their_message_and_exit_code(error):
    assert (explain(error).message, explain(error).exit_code) == (str(error), error.exit_code)
