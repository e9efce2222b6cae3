"""cli/common.cycle_collector_paused: the cycle collector does not run inside, is back as it was after
(also after an error), and what was made inside is frozen out of its sight but still freed by reference
counting. Each check runs in a fresh interpreter, so the test process's collector is left alone."""

from __future__ import annotations

import gc
import weakref

import pytest

from conftest import in_a_fresh_process
from generators.cli.common import cycle_collector_paused

pytestmark = pytest.mark.fast


class Node:
    def __init__(self):
        self.children: list[Node] = []


def check_paused_inside_and_resumed_after() -> None:
    collections = []
    gc.callbacks.append(lambda phase, info: collections.append(info["generation"]) if phase == "start" else None)
    frozen_before = gc.get_freeze_count()
    with cycle_collector_paused():
        assert not gc.isenabled()
        made = [Node() for _ in range(50_000)]  # far past the young generation's threshold (700)
        assert collections == []
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before + len(made)
    # frozen, yet freed by reference counting like anything else
    watcher = weakref.ref(made[0])
    del made
    assert watcher() is None


def check_resumed_after_an_error() -> None:
    with pytest.raises(RuntimeError):
        with cycle_collector_paused():
            raise RuntimeError("in the stage")
    assert gc.isenabled()


def check_left_off_when_it_was_off_and_nested_pauses_keep_it_off() -> None:
    frozen_before = gc.get_freeze_count()
    with cycle_collector_paused():
        with cycle_collector_paused():
            made = [Node() for _ in range(1_000)]
        assert not gc.isenabled()  # the inner pause does not resume the outer one's stage
    assert gc.isenabled()
    gc.disable()
    with cycle_collector_paused():
        pass
    assert not gc.isenabled()  # a caller who had switched it off keeps it off
    assert gc.get_freeze_count() >= frozen_before + len(made)


@pytest.mark.parametrize("check", [check_paused_inside_and_resumed_after, check_resumed_after_an_error,
                                   check_left_off_when_it_was_off_and_nested_pauses_keep_it_off])
def test_cycle_collector_paused(check):
    in_a_fresh_process(__name__, check.__name__)
