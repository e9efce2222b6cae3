#!/usr/bin/env python3
"""Regenerate tests/golden/example/ from the example organization. Review the diff before committing.

    .venv/bin/python tests/regen_golden.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import copy_project, run_cli  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden" / "example"


def synthesize_example(scratch: Path) -> Path:
    """Synthesize a copy of the example organization; the output's module paths match the checkout's."""
    project = copy_project(scratch)
    result = run_cli("--environments", str(project / "environments"), "--modules", str(project / "modules"),
                     "synth", "--out", str(project / "cdktf.out"), env=_no_endpoint_env())
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return project / "cdktf.out"


def _no_endpoint_env() -> dict[str, str]:
    import os

    # Golden files describe real-AWS output: no sandbox-only settings.
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}


def golden_files(out: Path) -> dict[str, bytes]:
    files = {"manifest.json": (out / "manifest.json").read_bytes()}
    for stack in sorted((out / "stacks").iterdir()):
        files[f"{stack.name}.cdk.tf.json"] = (stack / "cdk.tf.json").read_bytes()
    return files


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        files = golden_files(synthesize_example(Path(scratch)))
    shutil.rmtree(GOLDEN, ignore_errors=True)
    GOLDEN.mkdir(parents=True)
    for name, content in files.items():
        (GOLDEN / name).write_bytes(content)
    print(f"wrote {len(files)} golden files to {GOLDEN}")


if __name__ == "__main__":
    main()
