"""Shared fixtures: the project's paths, running the real CLI, Terraform's environment, a moto server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ENVIRONMENTS = ROOT / "environments"
MODULES = ROOT / "modules"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Terraform must never reach for the registry or prompt from a test.
os.environ.setdefault("CHECKPOINT_DISABLE", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def run_cli(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
            timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python main.py ARGS` as a user would, in a fresh interpreter."""
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env or dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


def in_a_fresh_process(module: str, check: str, *args: str) -> None:
    """Run ``check(*args)`` of test module ``module`` in a fresh Python, failing with its output if it
    fails. For what only happens in a process with no other thread (generators/parallel.py forks only
    then), which the test process may not be once other tests have started servers in threads."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); import {module}; "
            f"{module}.{check}(*sys.argv[1:])")
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def terraform_cache(tmp_path_factory) -> Path:
    """One provider cache and CLI configuration for the whole test session (shared like a user's)."""
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH: the tests need the real binary")
    return tmp_path_factory.mktemp("terraform-cache")


@pytest.fixture(scope="session")
def terraform_env(terraform_cache) -> dict[str, str]:
    from generators.terraform_cli import terraform_environment

    return terraform_environment(terraform_cache)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    """A real moto server on loopback (multi-account, real HTTP), for the whole session."""
    from moto.server import ThreadedMotoServer

    from generators.aws.sandbox import correct_conditional_denies

    correct_conditional_denies()  # as the demo's sandbox does: see its docstring
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_server, monkeypatch) -> dict[str, str]:
    """Environment variables that point boto3 and Terraform at the moto server with dummy credentials."""
    values = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**os.environ}


def copy_project(destination: Path, environments: Path = EXAMPLE_ENVIRONMENTS) -> Path:
    """A scratch copy of the project's inputs, so tests never write into the checkout."""
    shutil.copytree(environments, destination / "environments")
    shutil.copytree(MODULES, destination / "modules")
    return destination


@pytest.fixture
def fresh_aws(aws_env, moto_server) -> dict[str, str]:
    """``aws_env`` on an emptied moto server: every test that changes AWS state starts from nothing."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=30).read()
    return aws_env
