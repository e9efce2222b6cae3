"""How the tool runs the terraform binary: the environment, the CLI configuration, the provider cache.

A user's own Terraform CLI configuration (``TF_CLI_CONFIG_FILE`` or ``~/.terraformrc``) is always
honoured as it is. Only when there is none does the tool write its own, which installs providers
from a local filesystem mirror when one is found (machines without registry access) and shares one
plugin cache across all workspaces, so no workspace gets its own copy of the ~700 MB AWS provider.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from generators.errors import ToolError

if TYPE_CHECKING:
    from generators.synth.cache import HclParser

PROVIDER_PATH = Path("registry.terraform.io") / "hashicorp" / "aws"
# Where provider mirrors are commonly unpacked; TF_PROVIDER_MIRROR wins when set.
MIRROR_CANDIDATES = (
    "/opt/tf-plugins",
    "~/.terraform.d/plugins",
    "~/.local/share/terraform/plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
)


def terraform_binary() -> str:
    binary = shutil.which(os.environ.get("TERRAFORM_BINARY", "terraform"))
    if binary is None:
        raise ToolError("terraform is not on PATH; install Terraform >= 1.10 (https://developer.hashicorp.com/terraform/install)")
    return binary


def find_provider_mirror() -> Path | None:
    explicit = os.environ.get("TF_PROVIDER_MIRROR")
    for candidate in ([explicit] if explicit else []) + list(MIRROR_CANDIDATES):
        path = Path(candidate).expanduser()
        if (path / PROVIDER_PATH).is_dir():
            return path
    return None


def user_cli_config() -> Path | None:
    configured = os.environ.get("TF_CLI_CONFIG_FILE")
    path = Path(configured).expanduser() if configured else Path("~/.terraformrc").expanduser()
    return path if path.is_file() else None


def terraform_environment(cache_dir: Path) -> dict[str, str]:
    """The environment every terraform process of this tool runs with."""
    env = dict(os.environ)
    env.setdefault("TF_IN_AUTOMATION", "1")
    env.setdefault("CHECKPOINT_DISABLE", "1")
    env.setdefault("TF_INPUT", "0")
    user_config = user_cli_config()
    if user_config is not None:
        if "TF_PLUGIN_CACHE_DIR" not in env and "plugin_cache_dir" not in user_config.read_text(errors="replace"):
            env["TF_PLUGIN_CACHE_DIR"] = str(_plugin_cache(cache_dir))
        return env
    env["TF_CLI_CONFIG_FILE"] = str(write_cli_config(cache_dir))
    return env


def write_cli_config(cache_dir: Path) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    lines = [f'plugin_cache_dir = "{_plugin_cache(cache_dir)}"']
    mirror = find_provider_mirror()
    if mirror is not None:
        lines += [
            "provider_installation {",
            "  filesystem_mirror {",
            f'    path    = "{mirror}"',
            '    include = ["registry.terraform.io/hashicorp/*"]',
            "  }",
            "  direct {",
            '    exclude = ["registry.terraform.io/hashicorp/*"]',
            "  }",
            "}",
        ]
    path = cache_dir / "terraformrc"
    text = "# Written by aws-org-workspaces because no Terraform CLI configuration was found.\n" + "\n".join(lines) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def _plugin_cache(cache_dir: Path) -> Path:
    plugins = cache_dir / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    return plugins.resolve()


def provider_mirrors(parse: HclParser | None = None) -> tuple[Path, ...]:
    """The filesystem mirrors terraform installs providers from: those of the user's own CLI configuration
    (read with ``parse``, default ``hcl_loads``), or, when there is none, the mirror the configuration
    this tool writes points at."""
    from generators.synth.cache import hcl_loads
    from generators.synth.provider_lock import mirror_dirs_from_cli_config

    user_config = user_cli_config()
    if user_config is not None:
        return mirror_dirs_from_cli_config(user_config.read_text(errors="replace"), parse or hcl_loads)
    mirror = find_provider_mirror()
    return (mirror,) if mirror is not None else ()
