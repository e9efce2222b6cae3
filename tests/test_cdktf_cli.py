"""The real cdktf CLI (pinned in package.json) runs the project's app from cdktf.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, copy_project

pytestmark = pytest.mark.cdktf_cli
CDKTF = ROOT / "node_modules" / ".bin" / "cdktf"


def test_cdktf_synth_runs_the_app_and_writes_every_stack(tmp_path):
    assert CDKTF.exists(), "cdktf CLI missing: run `npm ci` (the README's test command does)"
    project = copy_project(tmp_path)
    config = json.loads((ROOT / "cdktf.json").read_text())
    # the checkout's app command, pointed at this interpreter and the checkout's main.py
    config["app"] = config["app"].replace(".venv/bin/python", sys.executable).replace(
        "main.py", str(ROOT / "main.py")) + " --no-extensions"
    (project / "cdktf.json").write_text(json.dumps(config))
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "CI": "1"}
    result = subprocess.run([str(CDKTF), "synth"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((project / config["output"] / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == ["alice", "bob", "dev", "feature-checkout", "hotfix-login", "preprod",
                                          "production", "qa", "uat"]
    stack = json.loads((project / config["output"] / "stacks" / "qa" / "cdk.tf.json").read_text())
    assert stack["terraform"]["backend"]["s3"]["key"] == "qa/terraform.tfstate"
