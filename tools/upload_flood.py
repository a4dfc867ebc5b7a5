#!/usr/bin/env python3
"""The upload flood of issue 31, against the real app: on a freshly started server where no page has run yet, one
session whose own page run was stopped at once PUTs many 16 MB files to /_stcore/upload_file/<its session>/<new id>
(its own XSRF cookie and header), then a genuine visitor opens the page.

    python tools/upload_flood.py --box 1,1g --puts 140 [--json]

Reports the server's RSS and the box's memory before, at the peak and after (the attacker's socket closed), the
bytes the upload manager holds (from /_stcore/metrics), the PUTs' statuses, the box's OOM kills, and whether the
server stayed healthy and the visitor's page finished. Exit status 0 when the server lived and the visitor was
served, 1 otherwise, 2 when the box or the server cannot start.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_server import AppServer, ServerError, health  # noqa: E402
from box import Box, BoxError, parse_box  # noqa: E402
from loadtest import RssMonitor  # noqa: E402
from procs import tree_rss_kb  # noqa: E402
from streamlit_client import ProtocolError, StreamlitClient  # noqa: E402


def uploaded_bytes(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=30) as r:  # noqa: S310 (127.0.0.1 only)
        text = r.read().decode()
    return sum(map(int, re.findall(r'cache_memory_bytes\{cache_type="UploadedFileManager"[^}]*\}\s+(\d+)', text)))


def memory(server: AppServer, box: Box | None) -> dict:
    return {"rss_mb": round(tree_rss_kb(server.proc.pid) / 1024, 1),
            **({"box_mb": round(box.usage() / 2**20, 1)} if box else {})}


def flood(out: dict, server: AppServer, box: Box | None, puts: int, size: int, timeout: float, after: float) -> None:
    """Fills `out` as it goes, so a server that dies midway still leaves the figures up to then."""
    out["before"] = memory(server, box)
    for _ in range(10):  # no page has run on this server yet: the attacker's session is stopped before its page
        attacker = StreamlitClient(server.port, timeout)
        if attacker.stopped_run():  # runs, so nothing of the app ran before the PUTs (the bound is the server's)
            break
        attacker.close()
    else:
        raise ProtocolError("no session got its id without its page running")
    statuses: collections.Counter = collections.Counter()
    held = []
    data = bytes(size)
    start = time.monotonic()
    try:
        for i in range(puts):
            try:
                statuses[attacker.put_file(f"flood{i}.safetensors", data)[0]] += 1
            except OSError as exc:  # the server died or reset the connection
                statuses[type(exc).__name__] += 1
            if not server.alive():
                out["died_after_puts"] = i + 1
                break
            attacker.idle(time.monotonic() + 0.05)  # answer the server's pings: a silent socket is closed, and
            # then its session's PUTs are refused (a loaded server took 90 s for 140 PUTs, past the ping timeout)
            if i % 10 == 9 or i == puts - 1:
                held.append(uploaded_bytes(server.url))
    finally:
        out["flood_s"] = round(time.monotonic() - start, 1)
        out["during"] = memory(server, box) if server.alive() else {}
        out["statuses"] = {str(k): v for k, v in statuses.items()}
        out["uploaded_mb_max"] = round(max(held, default=0) / 2**20, 1)
        attacker.close()
    out["healthy"] = health(server.url) == "ok"
    visitor = StreamlitClient(server.port, timeout)  # a genuine visitor arriving after the flood
    try:
        out["visitor_page_s"] = round(visitor.rerun(), 2)
        out["visitor_rerun_s"] = round(visitor.rerun(), 2)
    finally:
        visitor.close()
    time.sleep(after)  # past server.disconnectedSessionTTL (120 s) the attacker's session has expired
    late = StreamlitClient(server.port, timeout)  # a page run after that releases an expired session's files
    try:
        out["late_visitor_page_s"] = round(late.rerun(), 2)
    finally:
        late.close()
    out["after_s"], out["after"] = after, memory(server, box)
    out["uploaded_mb_after"] = round(uploaded_bytes(server.url) / 2**20, 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--box", default=None, metavar="CPUS,MEMORY", help="for example 1,1g (root; tools/box.py)")
    p.add_argument("--puts", type=int, default=140, help="files the attacker PUTs (140 OOM-killed 2.7 GB before)")
    p.add_argument("--size", type=int, default=16_000_000, help="bytes per file (the route takes up to 16 MiB)")
    p.add_argument("--timeout", type=float, default=120, help="seconds a page run may take")
    p.add_argument("--after", type=float, default=5, help="seconds after the attacker's socket closed before "
                   "memory is read again (Streamlit keeps a closed session 120 s)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    try:
        box = Box(parse_box(a.box)).create() if a.box else None
    except (ValueError, BoxError) as exc:
        print(f"upload_flood: error: {exc}")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="gru_viz_upload_flood_"))
    server = AppServer(tmp / "server.log", {"GRU_VIZ_CACHE_DIR": str(tmp / "cache"), "GRU_VIZ_BUILD_EXT": "0"},
                       wrap=box.command if box else None)
    out: dict = {"box": a.box, "puts": a.puts, "size": a.size, "load_average_at_start": os.getloadavg()[0],
                 "date": time.strftime("%Y-%m-%d %H:%M")}
    try:
        server.start()
        monitor = RssMonitor(server.proc.pid, box)
        monitor.start()
        try:
            flood(out, server, box, a.puts, a.size, a.timeout, a.after)
        except (ProtocolError, OSError) as exc:  # a dead server refuses the visitor's connection
            out["error"] = f"{type(exc).__name__}: {exc}"
        monitor.stop.set()
        out["peak_rss_mb"] = round(monitor.peak_kb / 1024, 1)
        out["alive"] = server.alive()
        if box:
            out["box_stats"] = box.stats()
    except ServerError as exc:
        print(f"upload_flood: error: {str(exc).splitlines()[0]}")
        return 2
    finally:
        server.stop()
        if box:
            box.remove()
    out["load_average_at_end"] = os.getloadavg()[0]
    ok = out.get("alive") and out.get("healthy") and "visitor_page_s" in out and "error" not in out
    print(json.dumps(out) if a.json else "\n".join(f"{k}: {v}" for k, v in out.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
