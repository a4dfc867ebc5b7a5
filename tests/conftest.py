"""Shared fixtures: The Time Machine from ../shared (never downloaded in tests), a private cache dir, the app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_TM = Path(os.environ.get("GRU_VIZ_TIMEMACHINE", ROOT.parent / "shared" / "data" / "timemachine.txt"))


# Tests run beside other work on 2 cores: one intra-op thread avoids stalls behind a busy core.
torch.set_num_threads(1)
# The app would compile the fast kernel in the background (about 45 s of a core): not during the tests.
os.environ.setdefault("GRU_VIZ_BUILD_EXT", "0")
# AppTest runs no JavaScript: in-process app tests see ② on the server (its fallback); the browser tests' server
# sets GRU_VIZ_LIVE_FORCE=1 (tests/e2e/conftest.py), so ② runs in the page there.
os.environ.setdefault("GRU_VIZ_LIVE_FORCE", "0")


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Every test gets a private cache with the verified Time Machine (when ../shared has it)."""
    from gru_viz.data import install_timemachine

    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("GRU_VIZ_CACHE_DIR")
    os.environ["GRU_VIZ_CACHE_DIR"] = str(cache)
    if SHARED_TM.is_file():
        install_timemachine(SHARED_TM, cache)
    yield cache
    if old is None:
        os.environ.pop("GRU_VIZ_CACHE_DIR", None)
    else:
        os.environ["GRU_VIZ_CACHE_DIR"] = old


@pytest.fixture()
def at():
    """The app run once headless with AppTest (helpers.running_app), for the in-process app tests."""
    from helpers import running_app

    with running_app(90) as app:
        yield app


@pytest.fixture(scope="session")
def timemachine_raw() -> str:
    if not SHARED_TM.is_file():
        pytest.skip(f"{SHARED_TM} not found")
    return SHARED_TM.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def tm_corpus(timemachine_raw):
    from gru_viz.data import make_corpus

    return make_corpus(timemachine_raw, "The Time Machine")


def pytest_terminal_summary(terminalreporter) -> None:
    """Which of the fast path's sets of loops the tests really ran, and how many steps each (tests/fast_loops.py)."""
    import sys

    ran = getattr(sys.modules.get("fast_loops"), "RAN", None)
    if ran:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(ran.items()))
        terminalreporter.write_line(f"fast-path loops run (steps): {counts}")
