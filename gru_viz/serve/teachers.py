"""Which browser started which class, for the server's life: a teacher who reloads is the teacher again there.

Shared by every session's thread, so every access holds one lock (iterating a plain dict while another teacher
added to it raised "dictionary changed size during iteration"), and bounded like the class store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from gru_viz.serve.classroom import MAX_CLASSES


class Teachers:
    """Class code -> (the teacher's browser, the teacher's token); at most `max_entries`, oldest dropped first."""

    def __init__(self, max_entries: int = 2 * MAX_CLASSES):
        self.max_entries = max_entries
        self._owners: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, code: str, browser: str, token: str, alive: Callable[[str], bool] | None = None) -> None:
        """Record a new class; classes for which `alive(code)` is False (ended, expired) are forgotten first."""
        with self._lock:
            codes = list(self._owners)
        gone = [c for c in codes if alive is not None and not alive(c)]  # outside the lock: it reads the store
        with self._lock:
            for c in gone:
                self._owners.pop(c, None)
            self._owners[code] = (browser, token)
            while len(self._owners) > self.max_entries:
                self._owners.popitem(last=False)

    def owner(self, code: str) -> tuple[str, str] | None:
        with self._lock:
            return self._owners.get(code)

    def forget(self, code: str) -> None:
        with self._lock:
            self._owners.pop(code, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._owners)
