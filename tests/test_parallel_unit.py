"""generators/parallel.py: the result is always ``[f(i) for i in items]``, whether the forked child
delivered its half or not, and no child outlives the call.

map_split forks only in a process with no other thread; the test process may have some (servers other
tests started), so the checks that need the fork run in a fresh interpreter (conftest.in_a_fresh_process)
and first assert that it does fork."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import MappingProxyType

import pytest

from conftest import in_a_fresh_process
from generators import parallel
from generators.parallel import MIN_ITEMS, map_split

pytestmark = pytest.mark.fast

needs_fork = pytest.mark.skipif(not hasattr(os, "fork") or parallel._cores() < 2,
                                reason="needs fork and two cores")
ITEMS = list(range(2 * MIN_ITEMS))


def pid_and_square(item: int) -> tuple[int, int]:
    return os.getpid(), item * item


def squares(results: list[tuple[int, int]]) -> list[int]:
    return [square for _, square in results]


def check_the_second_half_is_computed_in_a_child_and_the_order_kept() -> None:
    assert threading.active_count() == 1
    results = map_split(pid_and_square, ITEMS)
    assert squares(results) == [i * i for i in ITEMS]
    pids = [pid for pid, _ in results]
    half = len(ITEMS) // 2
    assert set(pids[:half]) == {os.getpid()}
    assert len(set(pids[half:])) == 1 and pids[-1] != os.getpid()


def check_a_child_that_does_not_deliver_has_its_half_computed_here(failure: str) -> None:
    parent = os.getpid()
    forked = Path(os.environ["FORKED_MARK"])

    def fails_in_the_child(item: int):
        if os.getpid() != parent:
            forked.touch()
            if failure == "raises":
                raise RuntimeError("only in the child")
            if failure == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            return lambda: item  # pickle refuses a local function
        return os.getpid(), item * item

    results = map_split(fails_in_the_child, ITEMS)
    assert forked.exists(), "the child ran"
    assert results == [(parent, i * i) for i in ITEMS]


def check_an_error_in_this_half_is_raised_and_the_child_reaped(folder: str) -> None:
    parent = os.getpid()
    pid_file = Path(folder) / "child.pid"

    def fails_here(item: int) -> int:
        if os.getpid() != parent:
            written = Path(folder) / "child.pid.tmp"
            written.write_text(str(os.getpid()))
            written.rename(pid_file)  # whole, never half-written
            signal.pause()  # a child still busy when this process gives up
        elif item == 3:
            deadline = time.monotonic() + 30
            while not pid_file.exists() and time.monotonic() < deadline:  # the child is at work
                time.sleep(0.01)
            raise ValueError("in this half")
        return item

    with pytest.raises(ValueError, match="in this half"):
        map_split(fails_here, ITEMS)
    child = int(pid_file.read_text())
    with pytest.raises(ChildProcessError):  # killed and reaped: no longer this process's child
        os.waitpid(child, os.WNOHANG)


def check_read_only_mappings_cross_the_pipe() -> None:
    results = map_split(lambda i: (os.getpid(), MappingProxyType({"i": i})), ITEMS)
    assert results[-1][0] != os.getpid()  # from the child
    assert [dict(r) for _, r in results] == [{"i": i} for i in ITEMS]
    assert all(isinstance(r, MappingProxyType) for _, r in results)


@needs_fork
def test_the_second_half_is_computed_in_a_child_and_the_order_kept():
    in_a_fresh_process(__name__, check_the_second_half_is_computed_in_a_child_and_the_order_kept.__name__)


@needs_fork
@pytest.mark.parametrize("failure", ["raises", "killed", "unpicklable"])
def test_a_child_that_does_not_deliver_has_its_half_computed_here(failure, tmp_path, monkeypatch):
    monkeypatch.setenv("FORKED_MARK", str(tmp_path / "forked"))
    in_a_fresh_process(__name__, check_a_child_that_does_not_deliver_has_its_half_computed_here.__name__, failure)


@needs_fork
def test_an_error_in_this_half_is_raised_and_the_child_reaped(tmp_path):
    in_a_fresh_process(__name__, check_an_error_in_this_half_is_raised_and_the_child_reaped.__name__, str(tmp_path))


@needs_fork
def test_read_only_mappings_cross_the_pipe():
    in_a_fresh_process(__name__, check_read_only_mappings_cross_the_pipe.__name__)


def test_few_items_are_computed_here():
    results = map_split(pid_and_square, ITEMS[:MIN_ITEMS - 1])
    assert {pid for pid, _ in results} == {os.getpid()}
    assert squares(results) == [i * i for i in ITEMS[:MIN_ITEMS - 1]]


def test_nothing_is_forked_while_another_thread_runs():
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        results = map_split(pid_and_square, ITEMS)
    finally:
        release.set()
        thread.join()
    assert {pid for pid, _ in results} == {os.getpid()}
    assert squares(results) == [i * i for i in ITEMS]


def test_a_failed_fork_computes_everything_here(monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setattr(parallel, "_cores", lambda: 2)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # as in a process with no other thread
    assert squares(map_split(pid_and_square, ITEMS)) == [i * i for i in ITEMS]
