"""The server's training slots: a few runs at once, within a memory budget, handed out in arrival order.

A plain object shared by every visitor's worker thread (no Streamlit calls). A run waits at the back of the
queue; it starts when it is at the front, a slot is free and its estimated memory fits beside the runs already
training. First come, first served: a run cannot jump the queue, so one visitor cannot starve another.
"""

from __future__ import annotations

import threading
from collections import deque


class TrainingSlots:
    def __init__(self, runs: int, memory_budget: int | None = None):
        self.runs, self.memory_budget = runs, memory_budget
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self._training: dict[object, int] = {}  # ticket -> its memory estimate

    def fits_alone(self, cost: int) -> bool:
        """Whether a run of this estimated memory could ever start here (else refuse it up front)."""
        return self.memory_budget is None or cost <= self.memory_budget

    def acquire(self, ticket: object, cost: int = 0, timeout: float | None = None) -> bool:
        """Join the queue (once) and wait up to `timeout` s for a slot; True when `ticket` holds one."""
        with self._cond:
            if ticket in self._training:
                return True
            if ticket not in self._queue:
                self._queue.append(ticket)

            def ready() -> bool:
                used = sum(self._training.values())
                return (self._queue[0] is ticket and len(self._training) < self.runs
                        and (self.memory_budget is None or used + cost <= self.memory_budget))

            if not self._cond.wait_for(ready, timeout):
                return False
            self._queue.popleft()
            self._training[ticket] = cost
            self._cond.notify_all()  # the next in line may fit too
            return True

    def leave(self, ticket: object) -> None:
        """Give up a place in the queue, or the slot held."""
        with self._cond:
            if ticket in self._queue:
                self._queue.remove(ticket)
            self._training.pop(ticket, None)
            self._cond.notify_all()

    release = leave

    def position(self, ticket: object) -> int:
        """1 for the front of the queue; 0 when not waiting."""
        with self._cond:
            return self._queue.index(ticket) + 1 if ticket in self._queue else 0

    @property
    def training(self) -> int:
        with self._cond:
            return len(self._training)

    @property
    def memory_in_use(self) -> int:
        with self._cond:
            return sum(self._training.values())
