"""Run the CLI inside the test process: the same entry point as `python main.py`, without an
interpreter start per call, for the many bad-input cases that never reach cdktf or Terraform."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout


def run_cli_in_process(*args: str) -> subprocess.CompletedProcess:
    """``main.main()`` with ``args``; exit code, stdout and stderr as ``conftest.run_cli`` returns them.
    An exception escaping main (which the error boundary must prevent) is re-raised, so a test sees it."""
    from generators.cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    sys.argv = ["main.py", *args]
    code = 0
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved_argv
    return subprocess.CompletedProcess(["main.py", *args], code, stdout.getvalue(), stderr.getvalue())
