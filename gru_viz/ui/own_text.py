"""A visitor's own text (pasted or uploaded) as a corpus, counted with what the server keeps (gru_viz.serve.kept):
per visitor and per server; the oldest is dropped, with a message, and the session's end gives it back."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from gru_viz.data import Corpus, make_corpus
from gru_viz.serve.kept import KeptMemory, corpus_bytes
from gru_viz.ui import page_state as ps
from gru_viz.ui.state import session_keeps, training_slots, visitor_id
from gru_viz.ui.view import View

MB = 2**20


@dataclass(eq=False)  # a key of KeptMemory: by identity
class OwnCorpus:
    """The session's corpus of its own text. `drop` may come from any thread (another visitor's run needing the
    memory): it lets go of the corpus and says why; the page says so at its next run."""

    key: tuple
    corpus: Corpus | None
    nbytes: int
    source: str  # "paste" or "upload"
    file_id: str = ""  # the upload it was built from
    kept: KeptMemory | None = None
    dropped: str = ""  # a reason key of gru_viz.serve.kept ("kept_visitor", "kept_server", "session_ended")
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def drop(self, reason: str) -> None:
        with self._lock:
            self.corpus, self.dropped = None, reason

    def forget(self, reason: str = "replaced") -> None:
        """Replaced by another text, or its session ended: out of the count, and the corpus let go."""
        if self.kept is not None:
            self.kept.remove(self)
        self.drop(reason)


def own_corpus(text: str, name: str, max_tokens: int, tokens: str = "d2l", max_vocab: int | None = None,
               source: str = "paste", file_id: str = "") -> Corpus:
    """A visitor's text as a corpus, built once per change of text, length or tokenisation (not at every rerun:
    a 2 MB paste took 0.15 s and 20 MB each time), and counted with what this visitor and the server keep."""
    key = (hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), name, max_tokens, tokens, max_vocab)
    held = ps.get("_own_corpus")
    corpus = held.corpus if isinstance(held, OwnCorpus) and held.key == key else None
    if corpus is not None:
        if held.kept is not None:
            held.kept.touch(held)  # the text in use: the visitor's ended runs go before it
        return corpus
    if isinstance(held, OwnCorpus):
        held.forget()
    ps.put("_own_corpus", None)  # a failed build must not leave the previous text's corpus behind
    corpus = make_corpus(text, name, max_tokens, tokens, max_vocab)
    kept = training_slots().kept
    held = OwnCorpus(key, corpus, corpus_bytes(corpus), source, file_id, kept)
    ps.put("_own_corpus", held)
    session_keeps(held)  # the session's end gives it back
    if kept is not None:  # may drop this visitor's (or, near the server's limit, anyone's) oldest: never this one
        kept.add(held, visitor_id(), held.nbytes, held.drop)
    return corpus


def dropped_notice(view: View, source: str, file_id: str = "") -> str:
    """Before the text's widget is drawn: when the session's text was dropped to make room, the message saying so
    (escaped, in the page's language), with the pasted text cleared so its memory goes too; else "". An upload
    dropped stays refused until another file is uploaded (the uploader's file cannot be cleared from here)."""
    held = ps.get("_own_corpus")
    if not isinstance(held, OwnCorpus) or not held.dropped or held.dropped == "replaced":
        return ""
    note = view.t(f"own_text_dropped_{held.dropped}", mb=max(1, round(held.nbytes / MB)))
    if held.source == "paste":
        ps.put("_own_corpus", None)  # said once; pasting again builds it anew
        if source == "paste":
            ps.put("paste_text", "")
        return note
    if source == "upload" and file_id == held.file_id:
        return note + " " + view.t("own_text_upload_again")
    ps.put("_own_corpus", None)
    return ""
