"""The buffers a thread reuses for the fast loops (gru_viz.fast.rooms): kept while the key stays, made anew when it
changes, never shared between threads."""

from __future__ import annotations

import threading

import torch

from gru_viz.fast.rooms import Rooms


def _counting_maker(made: list[int]):
    def make() -> dict[str, torch.Tensor]:
        made.append(1)
        return {"x": torch.empty(4)}

    return make


def test_the_same_key_gets_the_same_buffers_and_a_new_key_new_ones():
    rooms, made = Rooms(), []
    make = _counting_maker(made)
    first = rooms.get((2, 3), make)
    assert rooms.get((2, 3), make) is first and len(made) == 1
    other = rooms.get((2, 4), make)
    assert other is not first and len(made) == 2
    assert rooms.get((2, 3), make) is not first and len(made) == 3  # one set a thread: the last key's


def test_each_thread_has_its_own_buffers():
    rooms, made = Rooms(), []
    make = _counting_maker(made)
    mine = rooms.get("k", make)
    theirs: list[dict] = []
    worker = threading.Thread(target=lambda: theirs.append(rooms.get("k", make)))
    worker.start()
    worker.join()
    assert theirs[0] is not mine and len(made) == 2
    assert rooms.get("k", make) is mine  # the other thread's call did not replace this thread's set
