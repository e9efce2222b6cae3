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
# IAM's own pattern for role names, ASCII only: \w would also let through letters IAM refuses.
ROLE_NAME_PATTERN = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)

NAME_PREFIX_VARIABLE = "name_prefix"
# Satisfied by the hashicorp/aws 5.100.0 this project is tested with; 6.x changed resource schemas.
DEFAULT_AWS_PROVIDER_VERSION = ">= 5.100.0, < 6.0.0"
REQUIRED_TERRAFORM_VERSION = ">= 1.10.0"  # S3-native state locking (use_lockfile)

# AWS limits the derived names must fit, by what they name.
S3_BUCKET_MAX = 63
IAM_ROLE_MAX = 64
TAG_VALUE_MAX = 256
ACCOUNT_NAME_MAX = 50  # Organizations CreateAccount's AccountName
# An environment name names its stack folder, its state key and its Environment tag; file systems
# refuse names over 255 bytes, and no module could use a longer one as a prefix anyway.
ENVIRONMENT_NAME_MAX = 64
TTL_MAX_HOURS = 366 * 24  # a year: a short-lived environment that outlives that is not short-lived

# S3 refuses bucket names with these prefixes and suffixes (reserved for its own features).
S3_FORBIDDEN_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_FORBIDDEN_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", ".mrap")

TTL_UNITS_IN_HOURS = {"h": 1, "d": 24, "w": 24 * 7}


def state_bucket(organization: str, account_id: str) -> str:
    """One state bucket per account, in that account: the account id makes it globally unique."""
    return f"{organization}-tfstate-{account_id}"


def state_bucket_length(organization: str) -> int:
    return len(state_bucket(organization, "0" * 12))


# The state bucket layout: each environment's state at <environment>/terraform.tfstate, and S3-native
# locking's lock object next to it. These compose the keys and environment_of_state_key reads them back.
STATE_FILE = "terraform.tfstate"
LOCK_SUFFIX = ".tflock"


def state_key(environment: str) -> str:
    return f"{environment}/{STATE_FILE}"


def state_lock_key(environment: str) -> str:
    return state_key(environment) + LOCK_SUFFIX


def environment_of_state_key(key: str) -> str | None:
    """The environment whose state object ``key`` is, or None when ``key`` is not one (a lock object, a
    Terraform workspace's env:/ key, anything put in the bucket by hand): a key is an environment's state
    exactly when state_key composes it from a valid environment name."""
    environment, _, rest = key.partition("/")
    if rest != STATE_FILE or not NAME_PATTERN.fullmatch(environment) or len(environment) > ENVIRONMENT_NAME_MAX:
        return None
    return environment


def role_arn(account_id: str, role_name: str) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def ttl_hours(ttl: str) -> int:
    """Hours of a ttl like 7d; ValueError for anything else, including more than TTL_MAX_HOURS (so no
    caller ever meets an OverflowError from a date too far away)."""
    match = TTL_PATTERN.match(ttl)
    if not match or len(match.group(1)) > 6:
        raise ValueError(ttl)
    hours = int(match.group(1)) * TTL_UNITS_IN_HOURS[match.group(2)]
    if hours > TTL_MAX_HOURS:
        raise ValueError(ttl)
    return hours


def ttl_problem(ttl: str) -> str | None:
    """Why ``ttl`` is not a valid ttl, or None."""
    if not TTL_PATTERN.match(ttl):
        return f"ttl '{ttl}' must be a number and a unit h, d or w (like 7d)"
    try:
        ttl_hours(ttl)
    except ValueError:
        return f"ttl '{ttl}' is longer than a year (at most {TTL_MAX_HOURS}h, 366d or 52w)"
    return None


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would refuse ``name`` for a reserved prefix or suffix, or None."""
    for prefix in S3_FORBIDDEN_PREFIXES:
        if name.startswith(prefix):
            return f"S3 refuses bucket names starting with '{prefix}'"
    for suffix in S3_FORBIDDEN_SUFFIXES:
        if name.endswith(suffix):
            return f"S3 refuses bucket names ending with '{suffix}'"
    return None


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
