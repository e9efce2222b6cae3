"""Terraform provider version constraints: parsed, and whether several can be met at once.

Terraform intersects every ``required_providers`` constraint of a configuration (root and modules)
at ``init`` and fails when no release satisfies all of them. Checking the same at ``validate`` names
the module and both constraints before anything runs.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_PART = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*v?([0-9]+(?:\.[0-9]+){0,2})(-[0-9A-Za-z.-]+)?\s*$")

Version = tuple[int, int, int]


class ConstraintError(ValueError):
    pass


@dataclass(frozen=True)
class Bound:
    version: Version
    inclusive: bool


@dataclass(frozen=True)
class Range:
    """Versions between ``lower`` and ``upper`` (None: unbounded), minus the ``excluded`` ones."""

    lower: Bound | None = None
    upper: Bound | None = None
    excluded: frozenset[Version] = frozenset()

    def intersect(self, other: "Range") -> "Range":
        return Range(_tighter(self.lower, other.lower, lower=True), _tighter(self.upper, other.upper, lower=False),
                     self.excluded | other.excluded)

    def contains(self, version: Version) -> bool:
        if version in self.excluded:
            return False
        if self.lower is not None and (version < self.lower.version or
                                       (version == self.lower.version and not self.lower.inclusive)):
            return False
        if self.upper is not None and (version > self.upper.version or
                                       (version == self.upper.version and not self.upper.inclusive)):
            return False
        return True

    @property
    def is_empty(self) -> bool:
        if self.lower is None or self.upper is None:
            return False
        if self.lower.version > self.upper.version:
            return True
        if self.lower.version == self.upper.version:
            return not (self.lower.inclusive and self.upper.inclusive) or self.lower.version in self.excluded
        return False


def _tighter(a: Bound | None, b: Bound | None, lower: bool) -> Bound | None:
    if a is None or b is None:
        return a or b
    if a.version != b.version:
        return (max if lower else min)((a, b), key=lambda bound: bound.version)
    return a if not a.inclusive else b


@functools.lru_cache(maxsize=1024)  # the same few constraints, read once per module call
def parse(constraint: str) -> Range:
    """``">= 5.100.0, < 6.0.0"`` as a range; raises ``ConstraintError`` naming the part it cannot read."""
    result = Range()
    for part in constraint.split(","):
        match = _PART.match(part)
        if not match:
            raise ConstraintError(f"'{part.strip()}' is not a version constraint (like >= 5.0, < 6.0 or ~> 5.100)")
        operator, text, prerelease = match.group(1) or "=", match.group(2), match.group(3)
        numbers = [int(n) for n in text.split(".")]
        version: Version = tuple(numbers + [0] * (3 - len(numbers)))  # type: ignore[assignment]
        if prerelease and operator == "=":
            continue  # an exact pre-release: too rare to model; never refuse it
        result = result.intersect(_range(operator, version, len(numbers)))
    return result


def _range(operator: str, version: Version, precision: int) -> Range:
    if operator == "=":
        return Range(Bound(version, True), Bound(version, True))
    if operator == "!=":
        return Range(excluded=frozenset({version}))
    if operator == ">=":
        return Range(lower=Bound(version, True))
    if operator == ">":
        return Range(lower=Bound(version, False))
    if operator == "<=":
        return Range(upper=Bound(version, True))
    if operator == "<":
        return Range(upper=Bound(version, False))
    # ~> allows the rightmost given part to grow: ~> 5.1 is >= 5.1, < 6.0; ~> 5.1.2 is >= 5.1.2, < 5.2.0
    major, minor, _ = version
    upper: Version = (major + 1, 0, 0) if precision <= 2 else (major, minor + 1, 0)
    return Range(Bound(version, True), Bound(upper, False))


def compatible(*constraints: str) -> bool:
    """Whether one version can satisfy every constraint; unreadable constraints raise ConstraintError."""
    combined = Range()
    for constraint in constraints:
        combined = combined.intersect(parse(constraint))
    return not combined.is_empty


def parse_version(text: str) -> Version | None:
    """A release version like 5.100.0 (pre-releases, which constraints never select, give None)."""
    match = re.match(r"^v?([0-9]+)\.([0-9]+)\.([0-9]+)$", text.strip())
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def newest_matching(constraint: str, versions: list[str]) -> str | None:
    allowed = parse(constraint)
    candidates = [(parsed, text) for text in versions if (parsed := parse_version(text)) and allowed.contains(parsed)]
    return max(candidates)[1] if candidates else None
