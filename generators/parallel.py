"""Pure, CPU-bound work shared between this process and one forked copy of it.

Synthesis spends most of its time in pure Python (parsing HCL files, rendering stacks), which threads
cannot run side by side. A forked child starts in milliseconds with everything already loaded; it
computes the second half of the items and sends its results back pickled, while this process computes
the first half.

Forking is only done when it is safe: on a machine with more than one core, for enough items to pay
for it, and only while no other thread runs in this process (a fork copies the calling thread alone,
so a lock another thread held would stay held in the child). Whenever the child does not deliver
(killed, out of memory, an exception, a result that cannot be pickled), its half is computed here, so
the result never depends on whether the fork worked: the same list ``[function(i) for i in items]``.
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import signal
import threading
from types import MappingProxyType
from typing import Any, Callable, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Below this many items a fork costs about what it saves (measured here: parsing 50 environment files
# takes about 0.1 s, a fork of the synth process a few milliseconds plus the pickling).
MIN_ITEMS = 48


def map_split(function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
    """``[function(item) for item in items]``, the second half computed in a forked child when that is
    safe and worth it (see the module's docstring). ``function`` must be pure: the child's side effects
    are lost."""
    if not _may_fork(len(items)):
        return [function(item) for item in items]
    half = (len(items) + 1) // 2
    try:
        child = _Child.start(function, items[half:])
    except OSError:  # no process to spare (EAGAIN, ENOMEM, a sandbox that forbids fork)
        return [function(item) for item in items]
    try:
        mine = [function(item) for item in items[:half]]
        theirs = child.results()
    finally:
        child.end()
    if theirs is None or len(theirs) != len(items) - half:  # the child did not deliver: its half is computed here
        theirs = [function(item) for item in items[half:]]
    return mine + theirs


def dumps(value: Any) -> bytes:
    """``pickle.dumps`` that also handles the models' read-only mappings (MappingProxyType)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(value)
    return buffer.getvalue()


def read_only(mapping: dict[str, Any]) -> MappingProxyType[str, Any]:
    """How a pickled MappingProxyType is made again (the type itself cannot be pickled by name)."""
    return MappingProxyType(mapping)


def _reduce_read_only(mapping: MappingProxyType[str, Any]) -> tuple[Any, ...]:
    return read_only, (dict(mapping),)


# A table lookup per object type, far cheaper than a Python hook called for every object.
_DISPATCH = {**copyreg.dispatch_table, MappingProxyType: _reduce_read_only}


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _may_fork(count: int) -> bool:
    return count >= MIN_ITEMS and hasattr(os, "fork") and threading.active_count() == 1 and _cores() > 1


class _Child:
    """A forked child computing ``function`` over its items, its pickled results read through a pipe."""

    def __init__(self, pid: int, reader: int):
        self.pid = pid
        self._reader = reader
        self._exited = False

    @classmethod
    def start(cls, function: Callable[[Item], Result], items: Sequence[Item]) -> _Child:
        reader, writer = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(reader)
            os.close(writer)
            raise
        if pid == 0:  # the child: compute, send, and end without running this process's exit handlers
            status = 1
            try:
                os.close(reader)
                # the parent's handlers act on the parent's state; an interrupted child just ends
                for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    signal.signal(number, signal.SIG_DFL)
                payload = dumps([function(item) for item in items])
                with os.fdopen(writer, "wb") as stream:
                    stream.write(payload)
                status = 0
            finally:
                os._exit(status)
        os.close(writer)
        return cls(pid, reader)

    def results(self) -> list[Any] | None:
        """The child's results, or None when it failed (its exit status says so)."""
        with os.fdopen(self._reader, "rb") as stream:
            self._reader = -1
            payload = stream.read()
        _, status = os.waitpid(self.pid, 0)
        self._exited = True
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            return None
        try:
            results = pickle.loads(payload)
        except Exception:  # noqa: BLE001 - a truncated payload: computed here instead
            return None
        return results if isinstance(results, list) else None

    def end(self) -> None:
        """Reap the child; one still running (this process was interrupted) is killed first."""
        if self._reader >= 0:
            os.close(self._reader)
            self._reader = -1
        if not self._exited:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self._exited = True
