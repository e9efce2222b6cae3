"""Every generated workspace is valid Terraform for the real binary and the real hashicorp/aws provider,
installed from the machine's provider mirror through the tool's own CLI configuration (or the user's)."""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import FIXTURES, copy_project, run_cli

pytestmark = pytest.mark.terraform


def _terraform(stack: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["terraform", *args, "-no-color"], cwd=stack, env=env, capture_output=True, text=True,
                          timeout=300)


def _init_and_validate(stacks: list[Path], env: dict[str, str]) -> dict[str, subprocess.CompletedProcess]:
    # init one at a time (a shared plugin cache is not safe for concurrent init), validate in parallel
    for stack in stacks:
        init = _terraform(stack, env, "init", "-backend=false", "-input=false")
        assert init.returncode == 0, f"{stack.name}: {init.stderr}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda s: (s.name, _terraform(s, env, "validate", "-json")), stacks)
    return dict(results)


def _assert_valid(results: dict[str, subprocess.CompletedProcess]) -> None:
    for name, result in results.items():
        report = json.loads(result.stdout)
        assert report["valid"] is True, f"{name}: {report['diagnostics']}"


def test_every_example_workspace_validates_with_the_real_provider(tmp_path, terraform_env):
    project = copy_project(tmp_path)
    result = run_cli("--environments", str(project / "environments"), "--modules", str(project / "modules"),
                     "synth", "--out", str(project / "cdktf.out"))
    assert result.returncode == 0, result.stderr
    stacks = sorted((project / "cdktf.out" / "stacks").iterdir())
    assert len(stacks) == 9
    _assert_valid(_init_and_validate(stacks, terraform_env))
    # the provider comes from the shared cache, never copied into a workspace
    provider = next((stacks[0] / ".terraform" / "providers").rglob("linux_*"))
    assert provider.is_symlink()
    lock = (stacks[0] / ".terraform.lock.hcl").read_text()
    assert 'version     = "5.100.0"' in lock


def test_aliased_provider_and_sensitive_outputs_validate(tmp_path, terraform_env):
    fixture = FIXTURES / "good" / "aliased-provider"
    shutil.copytree(fixture, tmp_path / "project")
    project = tmp_path / "project"
    result = run_cli("--environments", str(project / "environments"), "--modules", str(project / "modules"),
                     "synth", "--out", str(project / "out"))
    assert result.returncode == 0, result.stderr
    _assert_valid(_init_and_validate([project / "out" / "stacks" / "production"], terraform_env))


def test_users_own_cli_configuration_is_honoured(tmp_path, monkeypatch):
    from generators.terraform_cli import find_provider_mirror, terraform_environment

    mirror = find_provider_mirror()
    assert mirror is not None, "no provider mirror found on this machine"
    user_config = tmp_path / "user.tfrc"
    user_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
        f'plugin_cache_dir = "{tmp_path / "user-cache"}"\n')
    (tmp_path / "user-cache").mkdir()
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(user_config))
    monkeypatch.delenv("TF_PLUGIN_CACHE_DIR", raising=False)
    env = terraform_environment(tmp_path / "tool-cache")
    assert env["TF_CLI_CONFIG_FILE"] == str(user_config)
    assert "TF_PLUGIN_CACHE_DIR" not in env  # the user's own plugin_cache_dir wins
    project = copy_project(tmp_path / "p")
    assert run_cli("--environments", str(project / "environments"), "synth", "--no-extensions",
                   "--out", str(project / "out")).returncode == 0
    _assert_valid(_init_and_validate([project / "out" / "stacks" / "dev"], env))
    assert (tmp_path / "user-cache" / "registry.terraform.io" / "hashicorp" / "aws" / "5.100.0").is_dir()


def test_tool_writes_its_own_cli_configuration_when_the_user_has_none(tmp_path, monkeypatch):
    from generators.terraform_cli import terraform_environment

    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "missing.tfrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    env = terraform_environment(tmp_path / "cache")
    config = Path(env["TF_CLI_CONFIG_FILE"]).read_text()
    assert env["TF_CLI_CONFIG_FILE"] == str(tmp_path / "cache" / "terraformrc")
    assert "filesystem_mirror" in config and "plugin_cache_dir" in config
