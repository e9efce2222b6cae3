"""An environment's effective definition, as HCL, with where each value came from (for `show ENV`).

Pure: renders text from the validated model; the CLI prints it.
"""

from __future__ import annotations

import os

from generators import naming
from generators.config.models import Environment, Location


def effective_definition(environment: Environment) -> str:
    lines = [f'environment "{environment.name}" {{{_from(environment.location)}']
    attributes = [("account", environment.account.name), ("region", environment.region),
                  ("uses", environment.uses), ("ttl", environment.ttl), ("branch", environment.branch),
                  ("owner", environment.owner), ("created", environment.created)]
    width = max(len(name) for name, _ in attributes)
    for name, value in attributes:
        if value is not None:
            lines.append(f'  {name.ljust(width)} = "{value}"')
    if environment.layout:
        lines.append(f'  # layout "{environment.layout}"{_from(environment.layout_location)}')
    for variable in environment.variables:
        store = (f'ssm_parameter = "{variable.ssm_parameter}"' if variable.ssm_parameter else
                 f'secretsmanager_secret = "{variable.secretsmanager_secret}"' if variable.secretsmanager_secret
                 else "value from TF_VAR_" + variable.name)
        lines.append(f'  variable "{variable.name}" {{ sensitive = {str(variable.sensitive).lower()} }}  # {store}')
    for call in environment.modules:
        source = call.source.text if call.source is not None else call.module.name
        lines += ["", f'  module "{call.name}" {{', f'    source = "{source}"{_from(call.location)}']
        if call.source is not None and call.source.version:
            lines.append(f'    version = "{call.source.version}"')
        inputs: dict[str, tuple[str, Location | None]] = dict(call.written)
        if naming.NAME_PREFIX_VARIABLE in call.inputs and naming.NAME_PREFIX_VARIABLE not in inputs:
            inputs[naming.NAME_PREFIX_VARIABLE] = (f'"{call.inputs[naming.NAME_PREFIX_VARIABLE]}"', None)
        if inputs:
            key_width = max(len(k) for k in inputs)
            lines.append("    inputs = {")
            for key, (text, location) in sorted(inputs.items()):
                origin = _from(location) if location else "  # set by the generator (the module requires it)"
                lines.append(f"      {key.ljust(key_width)} = {_indent(text)}{origin}")
            lines.append("    }")
        if call.providers:
            mapping = ", ".join(f'"{k}" = "{v}"' for k, v in call.providers.items())
            lines.append(f"    providers = {{ {mapping} }}")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _from(location: Location | None) -> str:
    if location is None or not location.file:
        return ""
    relative = os.path.relpath(location.file)
    path = location.file if relative.startswith("..") else relative
    return f"  # {path}:{location.line}" if location.line else f"  # {path}"


def _indent(text: str) -> str:
    return text.replace("\n", "\n      ") if "<<" not in text else text  # heredoc bodies stay as written
