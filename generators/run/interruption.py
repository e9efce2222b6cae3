"""Stopping a run without losing state: every terraform the run starts, and what to do on a signal.

Terraform killed mid-apply never writes down what it created: the lock stays and the next run meets
"AlreadyExists". Terraform interrupted with SIGINT finishes the operations under way, writes its
state and releases the lock. So each terraform runs in its own session (a terminal's Ctrl-C reaches
the tool only, not twice), and ``interrupt`` passes the tool's SIGINT or SIGTERM on to every running
terraform as one SIGINT, starts no new terraform, and kills them only after ``grace`` seconds or at
a second signal. Only the CLI installs signal handlers; it calls ``interrupt``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from typing import Any

from generators.errors import ToolError

DEFAULT_GRACE = 600.0  # seconds terraform gets to finish and write state; enough for slow deletes


class Interruption:
    def __init__(self, grace: float = DEFAULT_GRACE):
        self.grace = grace
        self.signal: int | None = None  # the first signal received
        self.killed = False  # terraform was killed (second signal or grace over): its state may be incomplete
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self._timer: threading.Timer | None = None
        self.started_any = False  # a terraform was started: from then on, a signal never raises in the run


    @property
    def interrupted(self) -> bool:
        return self.signal is not None

    def start(self, args: list[str], **options: Any) -> subprocess.Popen | None:
        """Start terraform in its own session; None once the run is interrupted (start nothing new)."""
        with self._lock:
            if self.signal is not None:
                return None
            process = subprocess.Popen(args, start_new_session=True, **options)
            self._running.add(process)
            self.started_any = True
            return process

    def finished(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._running.discard(process)
            if not self._running and self._timer is not None:
                self._timer.cancel()

    def interrupt(self, signum: int) -> None:
        """First call: SIGINT to every running terraform, kill after ``grace``; any later call: kill now."""
        with self._lock:
            first = self.signal is None
            if first:
                self.signal = signum
            running = list(self._running)
        if not first:
            self.kill()
            return
        for process in running:
            _signal_group(process, signal.SIGINT)
        if running:
            self._timer = threading.Timer(self.grace, self.kill)
            self._timer.daemon = True
            self._timer.start()

    def kill(self) -> None:
        with self._lock:
            running = list(self._running)
            if running:
                self.killed = True
        for process in running:
            _signal_group(process, signal.SIGKILL)  # the providers too: they are in terraform's group


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        if signum == signal.SIGINT:
            process.send_signal(signum)  # terraform itself stops its providers in order
        else:
            os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


class Interrupted(ToolError):
    """The run stopped on a signal; exit 128 + the signal's number (130 SIGINT, 143 SIGTERM), as shells do."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum
