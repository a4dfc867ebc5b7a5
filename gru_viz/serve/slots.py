"""The server's training slots: a few runs at once, within a memory budget, handed out fairly.

A plain object shared by every visitor's worker thread (no Streamlit calls). Waiting runs are ordered by turn,
then arrival: a visitor's first run (turn 0) goes before anyone's second, and a run continued after its time limit
counts as a later turn. The first waiting run that fits in a free slot and the memory left starts: a large run that
does not fit yet blocks no one (no head-of-line blocking), until it has been passed MAX_PASSES times; then the slots
are kept for it, so it cannot starve either. Fresh cookies from one network beyond a classroom's allowance share
one turn count, so K made-up visitors cannot each claim a first turn.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from gru_viz.serve.kept import KeptMemory

CLASSROOM_ALLOWANCE = 40  # visitors from one network counted apart (a class behind one NAT); the rest as one
MAX_PASSES = 8  # a waiting run that later runs passed this often is served next, whatever it needs


@dataclass
class _Wait:
    owner: str
    turn: int
    seq: int
    cost: int
    network: str
    passes: int = 0


class TrainingSlots:
    def __init__(self, runs: int, memory_budget: int | None = None, allowance: int = CLASSROOM_ALLOWANCE,
                 max_passes: int = MAX_PASSES, kept: KeptMemory | None = None):
        """`kept`: what ended runs keep, counted in the same memory budget; its oldest are dropped to admit a run."""
        self.runs, self.memory_budget, self.allowance, self.max_passes = runs, memory_budget, allowance, max_passes
        self.kept = kept
        self._cond = threading.Condition()
        self._waiting: dict[object, _Wait] = {}
        self._training: dict[object, _Wait] = {}  # ticket -> its wait (its cost is reserved)
        self._seq = itertools.count()

    def fits_alone(self, cost: int) -> bool:
        """Whether a run of this estimated memory could ever start here (else refuse it up front)."""
        return self.memory_budget is None or cost <= self.memory_budget

    def _owner(self, visitor: str, network: str) -> str:
        """The visitor, or the network's shared name once it has `allowance` other visitors here already."""
        if not network:
            return visitor
        here = {w.owner for w in (*self._waiting.values(), *self._training.values()) if w.network == network}
        if visitor in here or len(here - {f"net:{network}"}) < self.allowance:
            return visitor
        return f"net:{network}"

    def _order(self) -> list[object]:
        return sorted(self._waiting, key=lambda t: (self._waiting[t].turn, self._waiting[t].seq))

    def _next(self) -> object | None:
        """The waiting run that may take a slot now, or None."""
        if len(self._training) >= self.runs:
            return None
        used = sum(w.cost for w in self._training.values()) + (self.kept.total if self.kept is not None else 0)
        for ticket in self._order():
            w = self._waiting[ticket]
            if self.memory_budget is None or used + w.cost <= self.memory_budget:
                return ticket
            if w.passes >= self.max_passes:
                return None  # it has waited long enough: the memory that frees up is kept for it
        return None

    def acquire(self, ticket: object, cost: int = 0, timeout: float | None = None, visitor: str = "",
                network: str = "", turn: int = 0) -> bool:
        """Join the queue (once) and wait up to `timeout` s for a slot; True when `ticket` holds one.

        `visitor` and `network` say whose run it is (gru_viz.serve.ratelimit.client_key for the network);
        `turn` is how many slots this run held before (a continued run). A visitor's run ranks after their runs
        already waiting or training."""
        if self.kept is not None and self.memory_budget is not None:
            room = self.memory_budget - self.memory_in_use - cost
            if room >= 0 and self.kept.total > room:  # it would fit but for what ended runs keep: oldest go
                self.kept.shrink_to(room)
        with self._cond:
            if ticket in self._training:
                return True
            if ticket not in self._waiting:
                owner = self._owner(visitor or f"run:{id(ticket)}", network)
                mine = sum(w.owner == owner for w in (*self._waiting.values(), *self._training.values()))
                self._waiting[ticket] = _Wait(owner, turn + mine, next(self._seq), cost, network)
            if not self._cond.wait_for(lambda: self._next() is ticket, timeout):
                return False
            w = self._waiting.pop(ticket)
            for other in self._order():  # the runs it passed
                if (self._waiting[other].turn, self._waiting[other].seq) < (w.turn, w.seq):
                    self._waiting[other].passes += 1
            self._training[ticket] = w
            self._cond.notify_all()  # the next in line may fit too
            return True

    def leave(self, ticket: object) -> None:
        """Give up a place in the queue, or the slot held."""
        with self._cond:
            self._waiting.pop(ticket, None)
            self._training.pop(ticket, None)
            self._cond.notify_all()

    release = leave

    def position(self, ticket: object) -> int:
        """1 for the first in the queue's order; 0 when not waiting."""
        with self._cond:
            order = self._order()
            return order.index(ticket) + 1 if ticket in self._waiting else 0

    @property
    def training(self) -> int:
        with self._cond:
            return len(self._training)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    @property
    def memory_in_use(self) -> int:
        with self._cond:
            return sum(w.cost for w in self._training.values())
