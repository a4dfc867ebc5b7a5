"""The run queue (issue 31, item 5): no head-of-line blocking, first runs before second ones, fresh cookies from
one network beyond a classroom's allowance as one visitor, continued runs as later turns, no starvation.

`acquire(..., timeout=0)` joins the queue and answers at once whether the run got a slot: the tests count who
holds a slot and positions, never time."""

from __future__ import annotations

from gru_viz.serve.slots import MAX_PASSES, TrainingSlots

MB = 2**20


class Run:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def test_a_small_run_starts_while_a_large_one_waits_for_memory():
    """Issue 31: two maximum runs from fresh cookies; a hidden-32 run then waited "number 2" with a slot and its
    memory free. Now it starts."""
    slots = TrainingSlots(2, memory_budget=2300 * MB)
    big1, big2, small = Run("big1"), Run("big2"), Run("small")
    assert slots.acquire(big1, 1900 * MB, timeout=0, visitor="cookie1")
    assert not slots.acquire(big2, 1900 * MB, timeout=0, visitor="cookie2")  # a slot is free, its memory is not
    assert slots.acquire(small, 60 * MB, timeout=0, visitor="student")
    assert slots.training == 2 and slots.position(big2) == 1
    slots.release(big1)
    slots.release(small)
    assert slots.acquire(big2, 1900 * MB, timeout=0)


def test_a_visitors_second_run_waits_behind_others_first_runs():
    slots = TrainingSlots(1)
    a1, a2, b1, c1 = Run("a1"), Run("a2"), Run("b1"), Run("c1")
    assert slots.acquire(a1, timeout=0, visitor="a")
    assert not slots.acquire(a2, timeout=0, visitor="a")  # from another tab of a, or another session of a
    assert not slots.acquire(b1, timeout=0, visitor="b")
    assert not slots.acquire(c1, timeout=0, visitor="c")
    assert [slots.position(r) for r in (b1, c1, a2)] == [1, 2, 3]
    slots.release(a1)
    assert not slots.acquire(a2, timeout=0) and slots.acquire(b1, timeout=0)


def test_fresh_cookies_from_one_network_beyond_a_classrooms_allowance_count_as_one():
    """Forty made-up visitors from one address each queue a run; a student elsewhere queues after them and is
    still served right after the allowance's first runs, not 40th."""
    slots = TrainingSlots(1, allowance=5)
    first = Run("first")
    assert slots.acquire(first, timeout=0, visitor="fake0", network="198.51.100.9")
    fakes = [Run(f"fake{i}") for i in range(1, 40)]
    for i, r in enumerate(fakes, 1):
        assert not slots.acquire(r, timeout=0, visitor=f"fake{i}", network="198.51.100.9")
    genuine = Run("genuine")
    assert not slots.acquire(genuine, timeout=0, visitor="student", network="192.0.2.44")
    # fake0..fake4 are the allowance (fake0 trains); fake5.. share one turn count: only fake5 is a first turn
    assert slots.position(genuine) == 6
    # a classroom of thirty behind one NAT (within a larger allowance) is thirty first runs
    room = TrainingSlots(1, allowance=40)
    assert room.acquire(Run("s0"), timeout=0, visitor="s0", network="203.0.113.7")
    students = [Run(f"s{i}") for i in range(1, 30)]
    for i, r in enumerate(students, 1):
        room.acquire(r, timeout=0, visitor=f"s{i}", network="203.0.113.7")
    late = Run("late")
    room.acquire(late, timeout=0, visitor="late", network="192.0.2.1")
    assert room.position(late) == 30  # behind the 29 first runs that came before it: first come, first served


def test_a_run_continued_after_its_time_limit_queues_behind_first_runs():
    slots = TrainingSlots(1)
    held, resumed, fresh = Run("held"), Run("resumed"), Run("fresh")
    assert slots.acquire(held, timeout=0, visitor="x")
    assert not slots.acquire(resumed, timeout=0, visitor="k", turn=1)  # it held a slot for its limit already
    assert not slots.acquire(fresh, timeout=0, visitor="y")
    assert [slots.position(fresh), slots.position(resumed)] == [1, 2]


def test_a_large_run_passed_too_often_is_served_next():
    slots = TrainingSlots(2, memory_budget=1000 * MB)
    hold, big = Run("hold"), Run("big")
    assert slots.acquire(hold, 500 * MB, timeout=0, visitor="h")
    assert not slots.acquire(big, 900 * MB, timeout=0, visitor="big")
    for i in range(MAX_PASSES):  # small runs pass it while memory stays short for it
        small = Run(f"s{i}")
        assert slots.acquire(small, 100 * MB, timeout=0, visitor=f"s{i}")
        slots.release(small)
    late = Run("late")
    assert not slots.acquire(late, 100 * MB, timeout=0, visitor="late")  # the slots are kept for `big` now
    slots.release(hold)
    assert slots.acquire(big, 900 * MB, timeout=0) and slots.position(late) == 1


def test_leaving_the_queue_forgets_the_run():
    slots = TrainingSlots(0)
    r = Run("r")
    assert not slots.acquire(r, timeout=0, visitor="v")
    assert slots.waiting == 1 and slots.position(r) == 1
    slots.leave(r)
    assert slots.waiting == 0 and slots.position(r) == 0
