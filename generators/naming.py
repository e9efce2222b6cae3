"""Every name the tool derives, and the AWS limits they must fit. One place, so the rules and the
generated workspaces can never disagree about a name."""

from __future__ import annotations

import re
from datetime import datetime, timezone

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
ACCOUNT_ID_PATTERN = re.compile(r"^[0-9]{12}$")
TTL_PATTERN = re.compile(r"^([1-9][0-9]*)([hdw])$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ROLE_NAME_PATTERN = re.compile(r"^[\w+=,.@-]+$")

NAME_PREFIX_VARIABLE = "name_prefix"
# Satisfied by the hashicorp/aws 5.100.0 this project is tested with; 6.x changed resource schemas.
DEFAULT_AWS_PROVIDER_VERSION = ">= 5.100.0, < 6.0.0"
REQUIRED_TERRAFORM_VERSION = ">= 1.10.0"  # S3-native state locking (use_lockfile)

# AWS limits the derived names must fit, by what they name.
S3_BUCKET_MAX = 63
IAM_ROLE_MAX = 64
TAG_VALUE_MAX = 256

TTL_UNITS_IN_HOURS = {"h": 1, "d": 24, "w": 24 * 7}


def state_bucket(organization: str, account_id: str) -> str:
    """One state bucket per account, in that account: the account id makes it globally unique."""
    return f"{organization}-tfstate-{account_id}"


def state_bucket_length(organization: str) -> int:
    return len(state_bucket(organization, "0" * 12))


def state_key(environment: str) -> str:
    return f"{environment}/terraform.tfstate"


def role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def ttl_hours(ttl: str) -> int:
    match = TTL_PATTERN.match(ttl)
    if not match:
        raise ValueError(ttl)
    return int(match.group(1)) * TTL_UNITS_IN_HOURS[match.group(2)]


TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


_TAG_UNSAFE = re.compile(r"[^\w\s.:/=+\-@]")


def tag_value(text: str) -> str:
    """A tag value AWS accepts: letters, digits, spaces and _ . : / = + - @, at most 256 characters."""
    return _TAG_UNSAFE.sub("_", text)[:TAG_VALUE_MAX]


def output_name(module: str, output: str) -> str:
    """Root output exposing a module output; also what `uses` reads from the used environment's state."""
    return f"{module}_{output}".replace("-", "_")
