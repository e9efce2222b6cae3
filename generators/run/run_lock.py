"""One tool run per stack folder at a time, on this machine.

Terraform's state lock guards the state, not the stack folder: a second run could re-initialize the
backend with another role, or replace the plan a first run is about to apply. So each run takes a
local lock per environment, ``fcntl.flock`` on ``<out>/.runs/<environment>/lock``, for its whole
length. The kernel releases it when the process ends in any way (exit, crash, kill), so a lock is
never stale. The lock file records who holds it, for the refusal message; it is never deleted
(removing a locked file would let a third run lock a new file of the same name).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from generators.errors import ToolError

RUNS_DIR = ".runs"


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    command: str
    started: str

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}, `{self.command}`, since {self.started}"


class StackBusy(ToolError):
    """Another run of the tool holds a stack folder this run needs."""


def run_dir(outdir: Path, environment: str) -> Path:
    """Where a run keeps an environment's lock and saved plans: beside the stacks, never in them."""
    return outdir / RUNS_DIR / environment


class StackLocks:
    """The locks of one run; ``acquire`` all or none, ``release`` (or process exit) frees them."""

    def __init__(self, outdir: Path, command: str | None = None):
        self.outdir = outdir
        self.command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self._held: dict[str, int] = {}

    def acquire(self, environments: list[str]) -> None:
        """Lock every environment's folder at once or refuse at once, naming each holder: never waits,
        so two runs locking overlapping sets cannot deadlock."""
        busy: list[str] = []
        holder = Holder(os.getpid(), socket.gethostname(), self.command,
                        datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for name in sorted(set(environments)):
            folder = run_dir(self.outdir, name)
            try:
                folder.parent.mkdir(parents=True, exist_ok=True)
                folder.mkdir(mode=0o700, exist_ok=True)  # saved plans hold sensitive values: owner only
                descriptor = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                self.release()
                raise ToolError(f"cannot create the run lock in {folder}: {exc.strerror or exc}") from exc
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = read_holder(descriptor)
                os.close(descriptor)
                busy.append(f"{name} ({other})" if other else f"{name} (holder unknown)")
                continue
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, (json.dumps(holder.__dict__) + "\n").encode(), 0)
            self._held[name] = descriptor
        if busy:
            self.release()
            raise StackBusy(f"another run of the tool is using {'this stack' if len(busy) == 1 else 'these stacks'}: "
                            f"{'; '.join(busy)}. Wait for it to finish; nothing was run. (The lock goes away "
                            "with that process, so it can never be left behind.)")

    def release(self) -> None:
        for descriptor in self._held.values():
            os.close(descriptor)  # closing the last descriptor drops the flock
        self._held.clear()

    def __enter__(self) -> "StackLocks":
        return self

    def __exit__(self, *_exc) -> None:
        self.release()


def read_holder(descriptor: int) -> Holder | None:
    try:
        document = json.loads(os.pread(descriptor, 4096, 0) or b"null")
        return Holder(int(document["pid"]), str(document["host"]), str(document["command"]),
                      str(document["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
