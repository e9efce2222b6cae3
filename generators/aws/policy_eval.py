"""A small IAM policy evaluator, to check what the documents bootstrap puts in place mean.

The AWS emulator the tests run against stores identity policies, service control policies, bucket
policies and trust conditions without enforcing them, so their meaning is checked here, offline:
one request (principal, action, resource, context keys) against the policies that apply to it.

It follows AWS's documented logic for a request inside one account, for the parts our documents use:

- an explicit Deny in any policy wins;
- every level of the Organization (root, OUs, account) must have a service control policy that
  allows the action (AWS attaches ``FullAWSAccess`` to each by default: pass it, see
  ``FULL_AWS_ACCESS``);
- then an Allow in an identity policy or, for a matching principal, in the resource policy allows;
- anything else is an implicit deny.

Not modelled: permissions boundaries, session policies, cross-account requests (where both sides
must allow), and condition operators our documents do not use (numeric, date, IP address...): a
document using one raises ``UnsupportedPolicy`` rather than being guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any, Mapping, Sequence

Policy = Mapping[str, Any]

FULL_AWS_ACCESS: Policy = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class UnsupportedPolicy(ValueError):
    """The document uses something this evaluator does not model."""


class Decision(str, Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"

    @property
    def allowed(self) -> bool:
        return self is Decision.ALLOW


@dataclass(frozen=True)
class Request:
    """One API call: who (an IAM role or user ARN, or a service or federated principal), what, on what.

    ``context`` holds condition keys (case-insensitive), each a string or a list for multi-valued
    keys; ``aws:PrincipalArn`` is filled in from ``principal`` when not given.
    """

    principal: str
    action: str
    resource: str = "*"
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)

    def context_value(self, key: str) -> tuple[str, ...] | None:
        values = {k.lower(): v for k, v in self.context.items()}
        values.setdefault("aws:principalarn", self.principal)
        value = values.get(key.lower())
        if value is None:
            return None
        return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class Policies:
    """Everything that applies to a request: identity policies of the principal, the service control
    policies of each Organization level (outermost first), and the resource's own policy."""

    identity: Sequence[Policy] = ()
    scp_levels: Sequence[Sequence[Policy]] = ()
    resource: Policy | None = None


def evaluate(request: Request, policies: Policies) -> Decision:
    everything = [*policies.identity, *(p for level in policies.scp_levels for p in level)]
    resource_statements = _statements(policies.resource) if policies.resource else []
    if any(_applies(s, request) for p in everything for s in _statements(p) if s.get("Effect") == "Deny"):
        return Decision.EXPLICIT_DENY
    if any(_applies(s, request, with_principal=True) for s in resource_statements if s.get("Effect") == "Deny"):
        return Decision.EXPLICIT_DENY
    for level in policies.scp_levels:
        if not any(_applies(s, request) for p in level for s in _statements(p) if s.get("Effect") == "Allow"):
            return Decision.IMPLICIT_DENY
    if any(_applies(s, request) for p in policies.identity for s in _statements(p) if s.get("Effect") == "Allow"):
        return Decision.ALLOW
    if any(_applies(s, request, with_principal=True) for s in resource_statements if s.get("Effect") == "Allow"):
        return Decision.ALLOW
    return Decision.IMPLICIT_DENY


def _statements(policy: Policy) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _applies(statement: Mapping[str, Any], request: Request, with_principal: bool = False) -> bool:
    if with_principal and not _principal_matches(statement, request.principal):
        return False
    return (_element_matches(statement, "Action", request.action, _action_matches)
            and _element_matches(statement, "Resource", request.resource, resource_matches)
            and _conditions_hold(statement.get("Condition", {}), request))


def _element_matches(statement: Mapping[str, Any], name: str, value: str, matches) -> bool:
    if name in statement and f"Not{name}" in statement:
        raise UnsupportedPolicy(f"statement has both {name} and Not{name}")
    if name in statement:
        return any(matches(pattern, value) for pattern in _as_tuple(statement[name]))
    if f"Not{name}" in statement:
        return not any(matches(pattern, value) for pattern in _as_tuple(statement[f"Not{name}"]))
    # A resource policy's statements may leave Resource out only in trust policies (the role itself).
    return name == "Resource"


# -- wildcards ----------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: * any run of characters (slashes included), ? exactly one; nothing else is special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case).fullmatch(value) is not None


def _action_matches(pattern: str, action: str) -> bool:
    return glob_matches(pattern, action, ignore_case=True)  # "S3:getobject" is s3:GetObject


def arn_matches(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own, so * never spans a colon
    (only the last part, the resource, may itself hold colons and slashes)."""
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return glob_matches(pattern, arn)
    return all(glob_matches(p, a) for p, a in zip(pattern_parts, arn_parts))


def resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("arn:") and resource.startswith("arn:"):
        return arn_matches(pattern, resource)
    return glob_matches(pattern, resource)


# -- principals (resource and trust policies) -----------------------------------------------------

def _principal_matches(statement: Mapping[str, Any], principal: str) -> bool:
    if "Principal" in statement:
        return _listed(statement["Principal"], principal)
    if "NotPrincipal" in statement:
        return not _listed(statement["NotPrincipal"], principal)
    raise UnsupportedPolicy(f"resource policy statement {statement.get('Sid', '')!r} names no Principal")


def _listed(element: Any, principal: str) -> bool:
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        raise UnsupportedPolicy(f"Principal must be \"*\" or a mapping, not {element!r}")
    for kind, values in element.items():
        for value in _as_tuple(values):
            if value == "*" or value == principal:
                return True
            # "arn:aws:iam::N:root" stands for the account N: every principal in it.
            if kind == "AWS" and value.endswith(":root") and _account_of(value) == _account_of(principal):
                return True
            if kind == "AWS" and re.fullmatch(r"\d{12}", value) and _account_of(principal) == value:
                return True
    return False


def _account_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else None


# -- conditions ---------------------------------------------------------------------------------

def _string_equals(policy_value: str, value: str) -> bool:
    return policy_value == value


def _string_equals_ignore_case(policy_value: str, value: str) -> bool:
    return policy_value.lower() == value.lower()


def _string_like(policy_value: str, value: str) -> bool:
    return glob_matches(policy_value, value)


def _arn_equals(policy_value: str, value: str) -> bool:
    return arn_matches(policy_value, value)  # ArnEquals takes the same wildcards as ArnLike


def _bool(policy_value: Any, value: str) -> bool:
    return str(policy_value).lower() == value.lower()


# operator -> (comparison, negated)
_OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_arn_equals, False),
    "ArnLike": (_arn_equals, False),
    "ArnNotEquals": (_arn_equals, True),
    "ArnNotLike": (_arn_equals, True),
    "Bool": (_bool, False),
}


def _conditions_hold(conditions: Mapping[str, Mapping[str, Any]], request: Request) -> bool:
    """Every operator, and within it every key, must hold (AND); the values of one key are ORed."""
    return all(_condition_holds(operator, key, _as_tuple(values), request)
               for operator, block in conditions.items() for key, values in block.items())


def _condition_holds(operator: str, key: str, policy_values: tuple, request: Request) -> bool:
    values = request.context_value(key)
    if operator == "Null":
        [wanted] = {str(v).lower() for v in policy_values} or {"true"}
        return (values is None) == (wanted == "true")
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in _OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicy(f"condition operator {operator} is not modelled")
    compare, negated = _OPERATORS[base]

    def positive(value: str) -> bool:  # the value matches one of the policy's values
        return any(compare(policy_value, value) for policy_value in policy_values)

    def satisfied(value: str) -> bool:  # a Not operator wants a value that matches none of them
        return not positive(value) if negated else positive(value)

    if qualifier == "ForAllValues":
        return all(satisfied(value) for value in values or ())  # vacuously true when missing or empty
    if values is None and qualifier == "ForAnyValue":
        return if_exists  # no value at all, so none that satisfies
    if values is None:
        # A key the request does not carry: IfExists skips the test; a positive operator fails and a
        # negated one holds (nothing in the request equals the value, so "not equal" is true).
        return True if if_exists else negated
    if qualifier == "ForAnyValue":
        return any(satisfied(value) for value in values)
    # A plain operator against a multi-valued key behaves like ForAnyValue for positive operators;
    # a negated one holds only when no value matches.
    return not any(positive(v) for v in values) if negated else any(positive(v) for v in values)

