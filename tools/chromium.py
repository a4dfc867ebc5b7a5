"""Headless Chromium as every browser check here launches it: Debian's /usr/bin/chromium (or GRU_VIZ_CHROMIUM)
through Playwright, with nothing that reaches the network. Used by tests/e2e and the tools that drive a page."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("GRU_VIZ_CHROMIUM", "/usr/bin/chromium"))
# no sandbox (containers without user namespaces), no GPU, no background fetches, updates, sync or first-run
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def launch(playwright, **kwargs):
    """A Chromium browser from a started Playwright (`sync_playwright()`), with the settings above."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, **kwargs)
