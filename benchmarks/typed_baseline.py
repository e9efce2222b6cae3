#!/usr/bin/env python3
"""Baseline for the synth benchmark: the same workspaces built with typed cdktf constructs only.

Builds what `generators.synth.workspace` describes, but the conventional way: `AwsProvider`,
`S3Backend`, `DataTerraformRemoteStateS3`, `TerraformHclModule` and `TerraformOutput` objects,
with the typed AWS bindings imported up front.

    python benchmarks/typed_baseline.py ENVIRONMENTS_DIR OUT_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import cdktf  # noqa: E402
from cdktf_cdktf_provider_aws.provider import AwsProvider  # noqa: E402

from generators.config.organization import load_organization  # noqa: E402
from generators.synth.workspace import WorkspaceOptions, build_workspace  # noqa: E402


def main(environments: Path, out: Path) -> None:
    organization = load_organization(environments, ROOT / "modules")
    options = WorkspaceOptions(modules_dir=str(ROOT / "modules"), stacks_dir=str(out / "stacks"))
    app = cdktf.App(outdir=str(out), stack_traces=False)
    for environment in organization.environments:
        document = build_workspace(organization, environment, options)
        stack = cdktf.TerraformStack(app, environment.name)
        backend = dict(document.backend)
        backend.pop("use_lockfile")
        cdktf.S3Backend(stack, **backend)
        for provider in document.sections["provider"]["aws"]:
            AwsProvider(stack, f"aws-{provider.get('alias', 'default')}", region=provider["region"],
                        alias=provider.get("alias"), allowed_account_ids=provider["allowed_account_ids"],
                        assume_role=provider["assume_role"], default_tags=provider["default_tags"])
        remote = document.sections.get("data", {}).get("terraform_remote_state", {}).get("uses")
        if remote:
            config = dict(remote["config"])
            cdktf.DataTerraformRemoteStateS3(stack, "uses", **config)
        for name, block in document.sections.get("module", {}).items():
            block = dict(block)
            source = block.pop("source")
            block.pop("providers", None)
            module = cdktf.TerraformHclModule(stack, name, source=source, variables=block,
                                              skip_asset_creation_from_local_modules=True)
            for output in (document.sections.get("output") or {}):
                if output.startswith(f"{name}_"):
                    cdktf.TerraformOutput(stack, output, value=module.get(output[len(name) + 1:]))
    app.synth()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
