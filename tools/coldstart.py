#!/usr/bin/env python3
"""Cold start in a real browser: the app started fresh (empty cache), optionally in a box, timed to its first chart
in Chromium; then the tab is closed and the server's idle memory read.

    python tools/coldstart.py --box 1,1g [--no-kernel] [--idle 20] [--json]

Cold start = from launching `streamlit run` to the first visible Plotly chart in the page opened as soon as the
server answers its health check (what a student who opens the link of a sleeping app waits through, minus the
host's own container start). Exit status 0, or 2 when the box, the browser or the app cannot start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import chromium
import procs
from app_server import AppServer, ServerError, install_timemachine
from box import Box, BoxError, parse_box

CHART = ".js-plotly-plot"


def rss_mb(pid: int) -> float:
    return procs.tree_rss_kb(pid) / 1024


def compiler_running(pid: int) -> bool:
    return any(n in ("cc1plus", "ninja", "c++", "g++") for n in procs.names(pid))


def kernel_outcome(cache: Path) -> str:
    """What the app's background build left in the cache: a library, a recorded failure, or nothing."""
    ext = cache / "ext"
    if any(ext.glob("*/*.so")):
        return "built"
    for failed in ext.glob("*/failed.json"):
        return "failed: " + json.loads(failed.read_text()).get("reason", "?")
    return "not built"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--box", default=None, metavar="CPUS,MEMORY", help="for example 1,1g (root; tools/box.py)")
    p.add_argument("--no-kernel", action="store_true", help="GRU_VIZ_BUILD_EXT=0, as on a host without a compiler")
    p.add_argument("--idle", type=float, default=20, help="seconds after the tab closed before memory is read")
    p.add_argument("--timeout", type=float, default=240, help="seconds to wait for the first chart")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        box = Box(parse_box(a.box)).create() if a.box else None
    except (ValueError, BoxError) as exc:
        print(f"coldstart: error: {exc}")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="gru_viz_coldstart_"))
    env = {"GRU_VIZ_CACHE_DIR": str(tmp / "cache"), **({"GRU_VIZ_BUILD_EXT": "0"} if a.no_kernel else {})}
    server = AppServer(tmp / "server.log", env, wrap=box.command if box else None)
    out: dict = {"box": None, "no_kernel": a.no_kernel, "load_average_at_start": os.getloadavg()[0],
                 "date": time.strftime("%Y-%m-%d %H:%M")}
    try:
        from playwright.sync_api import sync_playwright

        install_timemachine(tmp / "cache")
        with sync_playwright() as pw:
            browser = chromium.launch(pw)
            try:
                healthy = server.start(timeout=a.timeout)
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(server.url + "/")
                page.wait_for_selector(CHART, state="visible", timeout=a.timeout * 1000)
                first_chart = time.monotonic() - server.started_at
                out.update(healthy_s=round(healthy, 1), first_chart_s=round(first_chart, 1),
                           rss_after_first_chart_mb=round(rss_mb(server.proc.pid)))
                page.close()
            finally:
                browser.close()
        compiling = False
        end = time.monotonic() + a.idle
        while time.monotonic() < end:
            compiling |= compiler_running(server.proc.pid)
            if box:
                box.usage()
            time.sleep(0.5)
        out.update(idle_rss_mb=round(rss_mb(server.proc.pid)), compiler_seen=compiling,
                   server_alive=server.alive())
        if box:
            out["box"] = box.stats()
            out["idle_box_mb"] = out["box"]["usage_mb"]
    except (ServerError, OSError, ImportError) as exc:
        print(f"coldstart: error: {str(exc).splitlines()[0]}")
        return 2
    except Exception as exc:  # noqa: BLE001 (Playwright's timeouts and errors: one line, exit 2)
        print(f"coldstart: error: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return 2
    finally:
        server.stop()
        if box:
            box.remove()
        out["kernel"] = kernel_outcome(tmp / "cache")
        shutil.rmtree(tmp, ignore_errors=True)
    b = out["box"]
    print(f"cold start{' in ' + b['box'] if b else ''}{' (no kernel build)' if a.no_kernel else ''}: healthy after "
          f"{out['healthy_s']} s, first chart in Chromium after {out['first_chart_s']} s; RSS "
          f"{out['rss_after_first_chart_mb']} MB then, {out['idle_rss_mb']} MB idle {a.idle:.0f} s after the tab closed"
          + (f"; box: {out['idle_box_mb']:.0f} MB idle, peak {b['peak_mb']:.0f} MB, {b['oom_kills']} OOM kills" if b
             else "") + f"; kernel {out['kernel']}{', compiler seen' if out['compiler_seen'] else ''}")
    if a.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
