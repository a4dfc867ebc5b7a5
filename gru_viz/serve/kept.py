"""What visitors keep between runs (finished runs with their snapshots and last-good copies, their own texts as
corpora, an uploaded model, the results computed about their own models), counted against a per-visitor and a
per-server budget that the run queue's admission sees; results (computed again when needed) are dropped first,
then the oldest.

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


def object_bytes(value: object, _seen: set[int] | None = None, _depth: int = 0) -> int:
    """Bytes an object holds, counted as it is laid out: numpy arrays' and tensors' buffers (a view's base once),
    a module's parameters and buffers, strings and bytes by sys.getsizeof, containers and plain objects (their
    __dict__, dataclasses included) with what they hold; each object once. For results kept per session (traces,
    payloads, perplexities) and uploaded models (tests/test_kept.py checks it against tracemalloc)."""
    seen = set() if _seen is None else _seen
    if id(value) in seen or _depth > 12 or value is None or isinstance(value, (bool, int, float)):
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, (str, bytes, bytearray)):
        return size
    import numpy as np  # here: kept.py stays importable without numpy's load at the server's start

    if isinstance(value, np.ndarray):
        base = value.base if isinstance(value.base, np.ndarray) else None
        return size if base is not None and id(base) in seen else size + value.nbytes
    if type(value).__module__.startswith("torch"):
        import torch

        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage()
            key = storage.data_ptr() or id(value)
            if key in seen:
                return size
            seen.add(key)
            return size + storage.nbytes()
        if isinstance(value, torch.nn.Module):
            return size + sum(object_bytes(t, seen, _depth + 1) for t in (*value.parameters(), *value.buffers()))
    if isinstance(value, dict):
        return size + sum(object_bytes(k, seen, _depth + 1) + object_bytes(v, seen, _depth + 1)
                          for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return size + sum(object_bytes(v, seen, _depth + 1) for v in value)
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict):
        return size + sum(object_bytes(v, seen, _depth + 1) for v in attrs.values())
    return size


@dataclass
class _Entry:
    owner: str
    nbytes: int
    drop: Callable[[str], None]
    cheap: bool = False  # computed again when needed (results): dropped before anything a visitor cannot get back


def _drop_order(items: list) -> list:
    """(key, entry) pairs in the order they go: what can be computed again first, then the oldest."""
    return [kv for kv in items if kv[1].cheap] + [kv for kv in items if not kv[1].cheap]


class KeptMemory:
    """Entries by key, oldest first. `add` keeps the owner within `per_owner` and the server within `total`
    (dropping the owner's, then anyone's, oldest); `shrink_to` makes room for a new run."""

    def __init__(self, total: int | None, per_owner: int | None):
        self.total_budget, self.per_owner = total, per_owner
        self._entries: OrderedDict[object, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: object, owner: str, nbytes: int, drop: Callable[[str], None], cheap: bool = False) -> None:
        """Count (or count anew) an entry as the owner's newest; `cheap` ones (results, computed again when
        needed) are dropped before the others, whatever their age, and make room only among themselves (results
        never push out a run: they may stand above the budgets by their own bound, ui.session_kept). Never drops
        the entry just added."""
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = _Entry(owner, nbytes, drop, cheap)
            victims = []
            if self.per_owner is not None:
                mine = [(k, e) for k, e in self._entries.items() if e.owner == owner]
                used = sum(e.nbytes for _, e in mine)
                for k, e in _drop_order([kv for kv in mine[:-1] if kv[1].cheap or not cheap]):  # never the new one
                    if used <= self.per_owner:
                        break
                    victims.append((k, "kept_visitor"))
                    used -= e.nbytes
            dropped = {k for k, _ in victims}
            if self.total_budget is not None:
                used = sum(e.nbytes for k, e in self._entries.items() if k not in dropped)
                for k, e in _drop_order([kv for kv in list(self._entries.items())[:-1] if kv[1].cheap or not cheap]):
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
        """Drop entries (results first, then the oldest) until at most `limit` bytes are kept; returns the bytes
        kept."""
        with self._lock:
            calls = []
            used = sum(e.nbytes for e in self._entries.values())
            for k, e in _drop_order(list(self._entries.items())):
                if used <= limit:
                    break
                del self._entries[k]
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
