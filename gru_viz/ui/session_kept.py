"""What a session keeps about its own models, counted with what the server keeps (gru_viz.serve.kept): the results
computed about them (traces, payloads, perplexities; computed again when needed, so dropped first) and an uploaded
model (a checkpoint or a notebook's file). Either may be dropped from any thread; the page says why at its next run."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

from gru_viz.serve.kept import KeptMemory, object_bytes

MB = 2**20
# Results about one session's own models (its runs, its upload): the scrubber's results about an uploaded model of
# hidden 512 held 5.2 MB by object_bytes (its trace, payloads and the model sent to the browser; docs/LOADTEST.md).
# The oldest beyond this go, whatever the per-name counts allow.
RESULTS_PER_SESSION_MB = float(os.environ.get("GRU_VIZ_RESULTS_PER_SESSION_MB", "64"))


class SessionResults:
    """The session's results by (name, key), least recently used first, within `limit` bytes in all and `size`
    per name (what state.cached asks). Registered in KeptMemory as one cheap entry of the visitor's."""

    def __init__(self, limit: int | None = None):
        self.limit = int(RESULTS_PER_SESSION_MB * MB) if limit is None else limit
        self._items: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.dropped = ""  # why they were last let go (a reason key of serve.kept); "" once results are kept again
        self.notice = ""  # the same, until the page has said it
        self.notice_mb = 0
        self.kept: KeptMemory | None = None  # where it is counted (state.cached registers it)

    def get(self, name: str, key: tuple, compute: Callable[[], object], size: int = 8) -> tuple[object, bool]:
        """(the result, whether what is kept changed: a new result was computed and counted)."""
        k = (name, key)
        with self._lock:
            if k in self._items:
                self._items.move_to_end(k)
                return self._items[k][0], False
        value = compute()
        nbytes = object_bytes(value)
        with self._lock:
            self._items[k] = (value, nbytes)
            same = [x for x in self._items if x[0] == name]
            for x in same[:-size] if len(same) > size else ():
                del self._items[x]
            total = sum(n for _, n in self._items.values())
            for x in list(self._items)[:-1]:  # never the one just computed: the page is about to show it
                if total <= self.limit:
                    break
                total -= self._items.pop(x)[1]
            self.nbytes, self.dropped = total, ""
        return value, True

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def drop(self, reason: str) -> None:
        """Let every result go (another run needs the memory, or the session ended)."""
        with self._lock:
            if self._items:
                self.notice, self.notice_mb = reason, max(1, round(self.nbytes / MB))
            self._items.clear()
            self.nbytes, self.dropped = 0, reason

    def forget(self, reason: str = "session_ended") -> None:
        """The session ended: out of the count, and every result let go."""
        if self.kept is not None:
            self.kept.remove(self)
        self.drop(reason)

    def take_notice(self) -> tuple[str, int]:
        """(reason, MB) of a drop the page has not said yet, once; ("", 0) when there is none."""
        with self._lock:
            out = (self.notice, self.notice_mb)
            self.notice, self.notice_mb = "", 0
        return out


class KeptUpload:
    """An uploaded model as session state keeps it: unpacks as (file name, checkpoint) and is true while the model
    is held, so the pages that read it see a dropped one as no upload at all; `drop` may come from any thread."""

    def __init__(self, name: str, ckpt: object, kept: KeptMemory | None = None):
        self.name, self._ckpt, self.kept = name, ckpt, kept
        self.nbytes = object_bytes(getattr(ckpt, "model", None)) + object_bytes(getattr(ckpt, "vocab", None))
        self.dropped = ""  # a reason key of serve.kept, or "replaced"
        self._lock = threading.Lock()

    @property
    def ckpt(self) -> object | None:
        with self._lock:
            return self._ckpt

    def __bool__(self) -> bool:
        return self.ckpt is not None

    def __iter__(self) -> Iterator[object]:
        return iter((self.name, self.ckpt))

    def __getitem__(self, i: int) -> object:
        return (self.name, self.ckpt)[i]

    def drop(self, reason: str) -> None:
        with self._lock:
            self._ckpt, self.dropped = None, reason

    def forget(self, reason: str = "replaced") -> None:
        """Replaced by another file, or the session ended: out of the count, and the model let go."""
        if self.kept is not None:
            self.kept.remove(self)
        self.drop(reason)


def say_dropped_results(view: object, results: object) -> None:
    """Once, after the session's results were let go to make room: a toast saying so (they are computed again)."""
    if not isinstance(results, SessionResults):
        return
    reason, mb = results.take_notice()
    if reason in ("kept_visitor", "kept_server"):
        import streamlit as st

        st.toast(view.t(f"results_dropped_{reason}", mb=mb))  # type: ignore[attr-defined]
