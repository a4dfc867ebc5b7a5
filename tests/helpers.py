"""Helpers the tests share: an independent clipped-SGD update to compare steps with, waiting for a thread, a model
with large random weights, and the app run headless with its runs and caches cleaned up afterwards."""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch


def autograd_sgd_update(model, X, Y, state, lr, clip, forcing) -> tuple[dict, float, float]:
    """Autograd on the chapter's forward, d2l's gradient clipping written out, SGD.
    Returns (the updated parameters by name, the gradient norm before clipping, the loss)."""
    names = list(model.params())  # d2l's names in order: the GRU's PARAM_NAMES, or the plain RNN's
    params = [getattr(model, n) for n in names]
    logits, _, _ = model(X, state, forcing)
    loss = torch.nn.functional.cross_entropy(logits, Y.T.reshape(-1))
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    scale = clip / norm if norm > clip else 1.0
    return {n: (p - lr * scale * g).detach() for n, p, g in zip(names, params, grads)}, norm, float(loss.detach())


def wait_for(pred, timeout: float) -> bool:
    """Poll `pred` until it is true (True) or `timeout` seconds have passed (False): for a worker thread's state."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def random_model(cls, vocab_size: int, hidden: int, seed: int = 0, scale: float = 0.6):
    """A GRUScratch or RNNScratch (`cls`) with weights and biases N(0, scale²) instead of d2l's small init, so that
    gradients and gates are far from their trivial values in a short test."""
    g = torch.Generator().manual_seed(seed)
    m = cls(vocab_size, hidden, generator=g)
    with torch.no_grad():
        for p in m.params().values():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return m


APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@contextlib.contextmanager
def running_app(timeout: float = 60):
    """The app run once headless (AppTest); afterwards its runs are stopped and the caches cleared, since every
    AppTest shares one session id and session-scoped caches would leak into the next test."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(APP, default_timeout=timeout)
    app.run()
    try:
        yield app
    finally:
        for w in app.session_state["runs"] if "runs" in app.session_state else []:
            w.stop()
            w.join(2.0)
        st.cache_resource.clear()


def selectbox_for(app, setting: str, lang: str = "en"):
    """The selectbox drawn for page setting `setting`: its key carries the language and, where its labels change
    (gru_viz.ui.page_state.widget), a digest of them."""
    prefix = f"w.{setting}.{lang}"
    (box,) = [b for b in app.selectbox if b.key == prefix or b.key.startswith(prefix + ".")]
    return box


def cut_network(monkeypatch, cache: Path) -> None:
    """Offline as on a school network: an empty cache at `cache`, every download refused (DNS fails), the app's
    cached resources (the book, the corpora) forgotten so the page looks again."""
    import urllib.error
    import urllib.request

    import streamlit as st

    monkeypatch.setenv("GRU_VIZ_CACHE_DIR", str(cache))

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    st.cache_resource.clear()
