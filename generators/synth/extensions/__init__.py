"""Per-kind customizations written as small cdktf functions, switched on by name in the configuration.

An extension is a function ``(stack, environment, organization) -> None`` that adds typed constructs
to an environment's workspace. Each lives in its own module in this folder and is listed in
``REGISTRY`` with the account kinds it applies to. Modules are imported only when an enabled
extension applies to an environment being synthesized, so the typed AWS bindings (a 12-15 s import)
are paid for only by organizations that use them.

To add one: write ``extensions/<name>.py`` with an ``apply(stack, environment, organization)``
function, add it to ``REGISTRY`` below, switch it on with ``extensions = ["<name>"]`` on the
organization or an account, and add a golden test.

What an extension may read: its environment, and the organization's settings and accounts. The
synthesis cache keys a stack with extensions on exactly those (and the extension's code), so a stack
is rendered again only when one of them changes. An extension that also reads other environments
(``organization.environments``, ``users_of``, ...) must set ``reads_other_environments`` in its spec:
its stacks are then keyed on the whole organization.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from generators.config.models import AccountKind, Environment, Organization

# (stack, environment, organization): the stack is a cdktf TerraformStack, which has no Python types.
Extension = Callable[[Any, Environment, Organization], None]


@dataclass(frozen=True)
class ExtensionSpec:
    name: str
    module: str  # python module in this package
    kinds: frozenset[AccountKind]  # account kinds it applies to; others are skipped silently
    description: str
    reads_other_environments: bool = False  # see the module's docstring

    def load(self) -> Extension:
        apply: Extension = importlib.import_module(f"{__name__}.{self.module}").apply
        return apply


REGISTRY: dict[str, ExtensionSpec] = {
    spec.name: spec
    for spec in (
        ExtensionSpec(
            name="developer-budget",
            module="developer_budget",
            kinds=frozenset({AccountKind.DEVELOPER}),
            description="a monthly AWS Budgets cost alarm in every developer playground account",
        ),
    )
}


def applicable(names: tuple[str, ...], kind: AccountKind) -> list[ExtensionSpec]:
    return [REGISTRY[n] for n in names if n in REGISTRY and kind in REGISTRY[n].kinds]
