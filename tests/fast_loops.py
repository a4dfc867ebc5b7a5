"""The fast-path tests' sets of loops: which should run on this host, a count of the steps each really ran (printed
at the end of the session), and a step that fails when the loops it names did not run."""

from __future__ import annotations

import collections

import pytest
import torch

from gru_viz.fast import choice, ext, step, torch_fm

# Steps (and traces) each set of loops really ran in this session: conftest prints it after the tests.
RAN: collections.Counter[str] = collections.Counter()
FAST = ("torch-rows", "torch-fm", "cpp")


def should_run(loops: str, dtype: torch.dtype, vocab: int, batch: int) -> str | None:
    """Why these loops need not run these shapes on this host (another dtype, no oneDNN in this torch build, no
    compiler), or None when they must: then a skip would hide a broken set, so the test fails instead."""
    if loops == "torch-fm":
        if dtype != torch.float32 or vocab > torch_fm.MAX_VOCAB or batch < 8:
            return "the feature-major loops take float32, vocabularies up to 64 and batches of 8 or more"
        if not torch.backends.mkldnn.is_available():
            return "this torch build has no oneDNN"
    if loops == "cpp":
        problem = ext.compiler_problem()
        if problem:
            return problem
    return None


def require(loops: str, dtype: torch.dtype, vocab: int, batch: int) -> None:
    """Skip where these loops need not run here; fail where they should but cannot (e.g. oneDNN present but its
    ops missing); build the kernel (into the test cache, once a session) where a compiler exists."""
    why = should_run(loops, dtype, vocab, batch)
    if why:
        pytest.skip(f"{loops}: {why}")
    if loops == "cpp" and ext.load_extension() is None:
        ext.build_extension()
    shapes = choice.Shapes("cpu", str(dtype).removeprefix("torch."), vocab, batch, 8, 1)
    cannot = choice.why_not(loops, shapes)
    assert cannot is None, f"{loops} should run on this host but cannot: {cannot}"


def install_spies(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Count, by set of loops, the steps that really reached each set's code (feature-major's train_step, the
    forward loops of the row-major PyTorch path or of the kernel). Returns this test's own counter."""
    mine: collections.Counter[str] = collections.Counter()
    fm_step, forward = torch_fm.train_step, step._forward

    def fm(*args, **kwargs):
        mine["torch-fm"] += 1
        return fm_step(*args, **kwargs)

    def rows_or_cpp(ids, h0, w, force, blocks, cpp, *args, **kwargs):
        mine["cpp" if cpp else "torch-rows"] += 1
        return forward(ids, h0, w, force, blocks, cpp, *args, **kwargs)

    monkeypatch.setattr(torch_fm, "train_step", fm)
    monkeypatch.setattr(step, "_forward", rows_or_cpp)
    return mine


def run_on(loops: str, counter: collections.Counter[str], *args, **kwargs):
    """`run_step(*args, loops=loops)`, asserting that exactly those loops ran (once)."""
    before = counter.copy()
    out = step.run_step(*args, loops=loops, **kwargs)
    delta = counter - before
    assert delta == collections.Counter({loops: 1}), f"asked for {loops}, ran {dict(delta)}"
    RAN[loops] += 1
    return out
