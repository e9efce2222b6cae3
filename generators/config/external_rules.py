"""Rules that AWS and Terraform enforce, checked at `validate` instead of half-way through a deploy.

Each check reads the raw blocks (so it runs even when other rules failed, and every problem is
reported at once) and names the rule it applies: the service's limit or syntax, and the offending
value. The layout rules are in config/organization.py; these are only what AWS or Terraform would refuse later.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterable, Iterator

from generators import naming
from generators.config import provider_versions
from generators.config.hcl_loader import RawBlock
from generators.errors import Problem

# GitHub: an owner of letters, digits and single hyphens (at most 39), a repository of [A-Za-z0-9._-].
_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9._-]{1,100}$")
# The principals a trust policy may name: an account root, or a role or user (with an optional path),
# or an assumed-role session; in any partition, always in one account, never a wildcard.
_PRINCIPAL = re.compile(
    r"^arn:aws(-cn|-us-gov|-iso|-iso-b|-iso-e|-iso-f|-eusc)?:"
    r"(iam::[0-9]{12}:(root|(role|user)(/[\x21-\x7e]*)?/[\w+=,.@-]{1,64})"
    r"|sts::[0-9]{12}:assumed-role/[\w+=,.@-]{1,64}/[\w+=,.@-]{2,64})$", re.ASCII)
# What a checker yields: the attribute (None for the block itself) and the problem (None when there is none).
Finding = tuple[str | None, str | None]


def check(blocks: Iterable[RawBlock]) -> list[Problem]:
    """Every problem AWS or Terraform would raise later, located in the blocks as written."""
    problems: list[Problem] = []
    for block in blocks:
        for located in (block, *block.children("provider")):
            checker = _CHECKERS.get(located.kind)
            if checker is not None:
                problems.extend(Problem(located.file, located.line_of(attribute) if attribute else located.line,
                                        message) for attribute, message in checker(located))
    return problems


def principal_problem(principal: str) -> str | None:
    """Why ``principal`` may not be trusted by a role, or None."""
    if "*" in principal or "?" in principal:
        return (f"principal '{principal}' is a wildcard: a trust policy must name exact principals, never "
                "every account or every role")
    if not _PRINCIPAL.match(principal):
        return (f"principal '{principal}' is not a well-formed IAM principal ARN (like "
                "arn:aws:iam::123456789012:role/platform-ci or arn:aws:iam::123456789012:root)")
    return None


def version_constraint_problem(constraint: str) -> str | None:
    """Why Terraform would not parse ``constraint`` as a version constraint, or None."""
    try:
        provider_versions.parse(constraint)
    except provider_versions.ConstraintError as exc:
        return f"aws_provider_version '{constraint}': {exc}"
    return None


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region of every AWS partition, from botocore's offline endpoint data (read as a file: a
    botocore session costs a second of start-up that validate and synth do not otherwise pay)."""
    import importlib.util
    import json

    spec = importlib.util.find_spec("botocore")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "data" / "endpoints.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return frozenset(region for partition in data["partitions"] for region in partition["regions"])
    import botocore.session  # a packaging that hides the file: ask botocore itself

    data = botocore.session.get_session().get_data("endpoints")
    return frozenset(region for partition in data["partitions"] for region in partition["regions"])


def region_problem(region: str) -> str | None:
    """Why ``region`` is not an AWS region, or None (only for names shaped like regions: the shape is
    checked by config/organization.py)."""
    if not naming.REGION_PATTERN.match(region) or region in known_regions():
        return None
    import botocore

    return (f"'{region}' is not a region of any AWS partition (botocore {botocore.__version__}'s endpoint data; "
            f"upgrade botocore if the region is newer); regions: {', '.join(sorted(known_regions()))}")


def _organization(block: RawBlock) -> Iterator[Finding]:
    attrs = block.attributes
    constraint = attrs.get("aws_provider_version")
    if constraint and constraint.strip():
        yield "aws_provider_version", version_constraint_problem(constraint)
    repository = attrs.get("github_repository")
    if repository is not None and not _GITHUB_REPOSITORY.match(repository):
        yield "github_repository", (f"github_repository '{repository}' must be one GitHub repository, "
                                    "owner/name (like acme/infrastructure): its workflows get the OIDC trust")
    if "region" in attrs:
        yield "region", region_problem(attrs["region"])
    if naming.NAME_PATTERN.match(block.label):
        bucket = naming.state_bucket(block.label, "0" * 12)
        reason = naming.bucket_name_problem(bucket)
        if reason:
            yield None, f"organization name '{block.label}' makes state bucket names like '{bucket}': {reason}"


def _account(block: RawBlock) -> Iterator[Finding]:
    if len(block.label) > naming.ACCOUNT_NAME_MAX:
        yield None, (f"account name '{block.label}' is {len(block.label)} characters; AWS Organizations allows "
                     f"at most {naming.ACCOUNT_NAME_MAX} (CreateAccount)")
    owner = block.attributes.get("owner")
    if owner is not None:
        yield from _tag("owner", "Owner", owner)


def _environment(block: RawBlock) -> Iterator[Finding]:
    name = block.label
    if len(name) > naming.ENVIRONMENT_NAME_MAX:
        yield None, (f"environment name '{name[:20]}...' is {len(name)} characters; at most "
                     f"{naming.ENVIRONMENT_NAME_MAX} (it names the stack folder, the state key and the "
                     "Environment tag)")
    for prefix in naming.S3_FORBIDDEN_PREFIXES:
        if name.startswith(prefix):
            yield None, (f"environment name '{name}' starts with '{prefix}': S3 refuses bucket names with that "
                         "prefix, and modules derive bucket names from the environment name")
    attrs = block.attributes
    if "region" in attrs:
        yield "region", region_problem(attrs["region"])
    for attribute, tag in (("branch", "Branch"), ("owner", "Owner")):
        if attrs.get(attribute) is not None:
            yield from _tag(attribute, tag, attrs[attribute])
    ttl = attrs.get("ttl")
    if ttl is not None and naming.TTL_PATTERN.match(ttl):
        yield "ttl", naming.ttl_problem(ttl)
    created = attrs.get("created")
    if created is not None and ttl is not None and naming.ttl_problem(ttl) is None:
        try:
            naming.parse_timestamp(created) + timedelta(hours=naming.ttl_hours(ttl))
        except OverflowError:
            yield "created", f"created '{created}' plus ttl {ttl} lies beyond the year 9999"
        except ValueError:
            pass  # config/organization.py reports a created time that is not a timestamp


def _provider(block: RawBlock) -> Iterator[Finding]:
    if "region" in block.attributes:
        message = region_problem(block.attributes["region"])
        yield "region", message and f"provider '{block.label}': {message}"


def _tag(attribute: str, tag: str, value: str) -> Iterator[Finding]:
    if len(value) > naming.TAG_VALUE_MAX:
        yield attribute, (f"{attribute} is {len(value)} characters; it becomes the {tag} tag on every resource, "
                          f"and AWS allows tag values of at most {naming.TAG_VALUE_MAX}")


def _located(checker: Callable[[RawBlock], Iterable[Finding]]) -> Callable[[RawBlock], list[tuple[str | None, str]]]:
    """Drop the checks that found nothing."""
    @functools.wraps(checker)
    def found(block: RawBlock) -> list[tuple[str | None, str]]:
        return [(attribute, message) for attribute, message in checker(block) if message]

    return found


_CHECKERS = {"organization": _located(_organization), "account": _located(_account),
             "environment": _located(_environment), "provider": _located(_provider)}
