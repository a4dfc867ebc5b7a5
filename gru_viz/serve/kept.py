"""What visitors keep between runs (finished runs with their snapshots and last-good copies, their own texts as
corpora), counted against a per-visitor and a per-server budget that the run queue's admission sees; the oldest is
dropped first.

A plain, thread-safe object shared by every session. Dropping calls the entry's `drop(reason)` (the worker frees
its models and tells its page why, in the page's language, from the reason's key).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gru_viz.serve.budget import MB, param_count

# What an ended run holds: its model, the model's gradients (the textbook engine's autograd keeps them; the fast
# path's loops do not), its last-good copy and its snapshots, 4 bytes per parameter each (tests/test_kept.py
# counts these tensors' bytes), plus Python objects and history: a finished run's resident memory measured
# 0.5-0.9× of 4·P·(2+S) at V = 1,000-4,000 and hidden 256-512 on the fast path, and within 3.1 MB of it at V = 28
# (tools/kept_memory.py; docs/LOADTEST.md, "What an ended run keeps").
KEPT_FIXED = 4 * MB


def kept_run_bytes(hidden: int, vocab_size: int, snapshots: int, variants: int = 1) -> int:
    """Bytes an ended run keeps until it is dropped: (model + gradients + last good + `snapshots`) × variants."""
    return KEPT_FIXED + 4 * param_count(hidden, vocab_size) * max(1, variants) * (3 + max(0, snapshots))


def corpus_bytes(corpus: object) -> int:
    """Bytes a visitor's own corpus (gru_viz.data.Corpus) holds, as sys.getsizeof counts them: its raw and
    normalised text (once when they are one object), its token list (pointers to the vocabulary's own ids) and its
    vocabulary's containers and tokens. A paste of 2,000,000 CJK characters holds about 24 MB (issue 31: 26 MB)."""
    raw, text, tokens, vocab = (getattr(corpus, k) for k in ("raw", "text", "tokens", "vocab"))
    total = sys.getsizeof(raw) + (0 if text is raw else sys.getsizeof(text)) + sys.getsizeof(tokens)
    containers = [v for v in vars(vocab).values() if isinstance(v, (list, dict, tuple))]
    total += sum(sys.getsizeof(c) for c in containers)
    return total + sum(sys.getsizeof(t) for t in getattr(vocab, "idx_to_token", ()))


@dataclass
class _Entry:
    owner: str
    nbytes: int
    drop: Callable[[str], None]


class KeptMemory:
    """Entries by key, oldest first. `add` keeps the owner within `per_owner` and the server within `total`
    (dropping the owner's, then anyone's, oldest); `shrink_to` makes room for a new run."""

    def __init__(self, total: int | None, per_owner: int | None):
        self.total_budget, self.per_owner = total, per_owner
        self._entries: OrderedDict[object, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: object, owner: str, nbytes: int, drop: Callable[[str], None]) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = _Entry(owner, nbytes, drop)
            victims = []
            if self.per_owner is not None:
                mine = [(k, e) for k, e in self._entries.items() if e.owner == owner]
                used = sum(e.nbytes for _, e in mine)
                for k, e in mine[:-1]:  # never the one just added
                    if used <= self.per_owner:
                        break
                    victims.append((k, "kept_visitor"))
                    used -= e.nbytes
            dropped = {k for k, _ in victims}
            if self.total_budget is not None:
                used = sum(e.nbytes for k, e in self._entries.items() if k not in dropped)
                for k, e in list(self._entries.items())[:-1]:
                    if used <= self.total_budget:
                        break
                    if k not in dropped:
                        victims.append((k, "kept_server"))
                        dropped.add(k)
                        used -= e.nbytes
            calls = [(self._entries.pop(k).drop, reason) for k, reason in victims]
        for drop, reason in calls:  # outside the lock: a drop frees a worker's models under the worker's lock
            drop(reason)

    def shrink_to(self, limit: int, reason: str = "kept_server") -> int:
        """Drop the oldest entries until at most `limit` bytes are kept; returns the bytes kept."""
        with self._lock:
            calls = []
            used = sum(e.nbytes for e in self._entries.values())
            while self._entries and used > limit:
                _, e = self._entries.popitem(last=False)
                used -= e.nbytes
                calls.append(e.drop)
        for drop in calls:
            drop(reason)
        return used

    def touch(self, key: object) -> None:
        """In use again (a visitor's text their page still trains on): it becomes the newest, so older entries go
        before it."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)

    def remove(self, key: object) -> None:
        """Forget an entry without dropping it (its run trains again, or its owner discarded it)."""
        with self._lock:
            self._entries.pop(key, None)

    def remove_owner(self, owner: str) -> int:
        """A session ended: forget its entries (their memory goes with the session); returns how many."""
        with self._lock:
            keys = [k for k, e in self._entries.items() if e.owner == owner]
            for k in keys:
                del self._entries[k]
        return len(keys)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def owner_total(self, owner: str) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values() if e.owner == owner)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
