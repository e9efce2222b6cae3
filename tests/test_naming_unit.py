"""generators/naming.py called directly: the derived names and the limits they must fit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from generators import naming

pytestmark = pytest.mark.fast


def test_state_locations_and_role_arns():
    assert naming.state_bucket("acme", "400000000001") == "acme-tfstate-400000000001"
    assert naming.state_bucket_length("acme") == len("acme-tfstate-") + 12
    assert naming.state_key("feature-x") == "feature-x/terraform.tfstate"
    assert naming.role_arn("400000000001", "TerraformDeploy") == "arn:aws:iam::400000000001:role/TerraformDeploy"


@pytest.mark.parametrize("ttl, hours", [("1h", 1), ("7d", 168), ("2w", 336), ("366d", naming.TTL_MAX_HOURS),
                                        ("8784h", naming.TTL_MAX_HOURS)])
def test_ttl_hours(ttl, hours):
    assert naming.ttl_hours(ttl) == hours
    assert naming.ttl_problem(ttl) is None


@pytest.mark.parametrize("ttl", ["", "7", "d", "0d", "07d", "7m", "7 d", "-1d", "1.5d", "7D"])
def test_ttl_that_is_not_a_number_and_unit(ttl):
    with pytest.raises(ValueError):
        naming.ttl_hours(ttl)
    assert naming.ttl_problem(ttl) == f"ttl '{ttl}' must be a number and a unit h, d or w (like 7d)"


@pytest.mark.parametrize("ttl", ["367d", "53w", "8785h", "9999999999999999999999w"])
def test_ttl_longer_than_a_year_is_refused_without_overflow(ttl):
    with pytest.raises(ValueError):
        naming.ttl_hours(ttl)
    assert "longer than a year" in naming.ttl_problem(ttl)


@pytest.mark.parametrize("name, problem", [
    ("acme-tfstate-1", None),
    ("xn--acme", "S3 refuses bucket names starting with 'xn--'"),
    ("sthree-acme", "S3 refuses bucket names starting with 'sthree-'"),
    ("acme-s3alias", "S3 refuses bucket names ending with '-s3alias'"),
    ("acme--ol-s3", "S3 refuses bucket names ending with '--ol-s3'"),
    ("acme.mrap", "S3 refuses bucket names ending with '.mrap'"),
])
def test_bucket_name_problem(name, problem):
    assert naming.bucket_name_problem(name) == problem


def test_timestamps_are_utc_seconds_and_read_back():
    moment = datetime(2026, 1, 31, 13, 30, 15, 999, tzinfo=timezone(timedelta(hours=1)))
    assert naming.format_timestamp(moment) == "2026-01-31T12:30:15Z"
    assert naming.parse_timestamp("2026-01-31T12:30:15Z") == datetime(2026, 1, 31, 12, 30, 15, tzinfo=timezone.utc)
    for text in ("2026-01-31", "2026-01-31T12:30:15+00:00", "2026-13-01T00:00:00Z"):
        with pytest.raises(ValueError):
            naming.parse_timestamp(text)


def test_tag_values_keep_what_aws_accepts_and_fit_its_limit():
    assert naming.tag_value("feature/JIRA-1: a=b+c @x_y.z") == "feature/JIRA-1: a=b+c @x_y.z"
    assert naming.tag_value('a&b "c" #d') == "a_b _c_ _d"
    assert naming.tag_value("x" * 300) == "x" * naming.TAG_VALUE_MAX


def test_output_names_are_terraform_identifiers():
    assert naming.output_name("api", "table_name") == "api_table_name"
    assert naming.output_name("my-api", "role-arn") == "my_api_role_arn"


@pytest.mark.parametrize("name, valid", [("dev", True), ("feature-x1", True), ("1dev", False), ("Dev", False),
                                         ("dev_x", False), ("", False)])
def test_name_pattern(name, valid):
    assert bool(naming.NAME_PATTERN.match(name)) is valid
