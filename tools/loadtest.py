#!/usr/bin/env python3
"""Load test: start the app, let N simulated visitors use it at once, report memory, latency and errors.

    python tools/loadtest.py --visitors 30 --trainers 10 --duration 120 [--port P] [--json]

Each visitor is a websocket client speaking Streamlit's own protocol (the BackMsg/ForwardMsg protobufs a browser
exchanges with /_stcore/stream), one request at a time like a browser tab: it loads the page (the probe's whole
trace arrives once, in the scrubber component's data), scrubs as the in-browser scrubber does (stepping costs the
server nothing; now and then the step the browser settled on is reported, which reruns the scrubber's fragment and
writes the URL), changes the forcing preset (on the force tab or with the scrubber's preset keys), opening the tab
each action is on first, and, for --trainers of them, sets --hidden / --epochs (32 / 30), presses Start on the
train tab and then polls whatever the page polls (the train tab's live view every second, the sidebar's run status
every 2 s on other tabs) as the browser's run_every timers do, until the run has finished or shows that it is
queued for a free slot. Only 127.0.0.1 is ever contacted. See docs/LOADTEST.md.

With --box CPUS,MEMORY (for example 1,1g: Community Cloud's small app) the app runs inside a cgroup with those
limits (tools/box.py; root), and the report adds the box's peak memory and OOM kills.

Exit status: 0 when every target is met, 1 when one is not (or there were errors), 2 when the app never started
or the box could not be made.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import procs
from app_server import ROOT, AppServer, ServerError, install_timemachine
from box import Box, BoxError, parse_box
from load_visitor import Results, run_visitor, summary

TARGET_RSS_MB, TARGET_P95_S = 1536, 1.0  # from the issue: 1.5 GB peak RSS, p95 update within 1 s


# --- the server and its memory ----------------------------------------------------------------------------


class RssMonitor(threading.Thread):
    """Samples the server's RSS (and the box's usage, which also tracks its peak) every 0.5 s."""

    def __init__(self, pid: int, box: Box | None = None, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.box, self.every, self.peak_kb, self.samples = pid, box, every, 0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_kb = max(self.peak_kb, procs.tree_rss_kb(self.pid))
            if self.box is not None:
                self.box.usage()
            self.samples += 1
            self.stop.wait(self.every)


def app_env(cache: Path, max_trainers: int | None, no_kernel: bool) -> dict[str, str]:
    env = {"GRU_VIZ_CACHE_DIR": str(cache)}
    if max_trainers is not None:
        env["GRU_VIZ_MAX_TRAINERS"] = str(max_trainers)
    if no_kernel:  # as on a host without a compiler (Community Cloud): the PyTorch loops only
        env["GRU_VIZ_BUILD_EXT"] = "0"
    return env


def app_revision() -> str:
    """The commit under test, with '+dirty' when the working tree has changes (other engineers' edits)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{head}{'+dirty' if dirty else ''}" if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown")
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--visitors", type=int, default=30)
    p.add_argument("--trainers", type=int, default=10, help="visitors that also start a training run")
    p.add_argument("--duration", type=float, default=120, help="seconds of visiting (the run takes a bit more)")
    p.add_argument("--port", type=int, default=None, help="default: a free port")
    p.add_argument("--steps", type=int, default=10, help="settled scrub steps each visitor reports")
    p.add_argument("--presets", type=int, default=3, help="forcing preset changes per visitor")
    p.add_argument("--hidden", type=int, default=32, help="hidden units of the trainers' runs (d2l: 256)")
    p.add_argument("--epochs", type=int, default=30, help="epochs of the trainers' runs (d2l: 500)")
    p.add_argument("--ramp", type=float, default=None, help="seconds over which visitors arrive (default 1/6)")
    p.add_argument("--drain", type=float, default=60, help="extra seconds for runs still training at the end")
    p.add_argument("--timeout", type=float, default=60, help="seconds one request may take before it is an error")
    p.add_argument("--max-trainers", type=int, default=None, help="GRU_VIZ_MAX_TRAINERS for the app (default: its own)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--query", default="", help="the link's settings every visitor opens the page with, e.g. "
                   "corpus_source=offline&max_tokens=200000&batch_size=256&num_steps=200&engine=fast")
    p.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                   help="a Streamlit config option for the app, e.g. runner.postScriptGC=false (repeatable)")
    p.add_argument("--box", default=None, metavar="CPUS,MEMORY",
                   help="run the app in a cgroup with these limits, e.g. 1,1g or 0.5,690m (root; see tools/box.py)")
    p.add_argument("--no-kernel", action="store_true",
                   help="GRU_VIZ_BUILD_EXT=0: no C++ kernel build, as on a host without a compiler")
    p.add_argument("--json", action="store_true", help="print a JSON object as the last line")
    a = p.parse_args(argv)
    if not (1 <= a.visitors <= 200 and 0 <= a.trainers <= a.visitors and 5 <= a.duration <= 3600):
        p.error("need 1 <= visitors <= 200, 0 <= trainers <= visitors, 5 <= duration <= 3600")
    try:
        box = Box(parse_box(a.box)).create() if a.box else None
    except (ValueError, BoxError) as exc:
        print(f"loadtest: error: {exc}")
        return 2
    info = machine()
    tmp = Path(tempfile.mkdtemp(prefix="gru_viz_loadtest_"))
    log_path = tmp / "server.log"
    server = AppServer(log_path, app_env(tmp / "cache", a.max_trainers, a.no_kernel), a.set,
                       box.command if box else None, a.port)
    try:
        install_timemachine(tmp / "cache")
        start_s = server.start()
    except (OSError, subprocess.SubprocessError, ServerError) as exc:
        print(f"could not start the app: {exc}")
        if box:
            box.remove()
        return 2
    proc, port = server.proc, server.port
    res, monitor = Results(), RssMonitor(proc.pid, box)
    start_rss_mb = procs.tree_rss_kb(proc.pid) / 1024
    monitor.start()
    try:
        t0 = time.monotonic()
        ramp = a.duration / 6 if a.ramp is None else a.ramp
        every = a.visitors / a.trainers if a.trainers else math.inf
        trainers = {int(k * every) for k in range(a.trainers)}
        threads = [threading.Thread(target=run_visitor, daemon=True,
                                    args=(i, i in trainers, a, port, t0 + ramp * i / a.visitors, t0 + a.duration, res))
                   for i in range(a.visitors)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, t0 + a.duration + a.drain + a.timeout + 10 - time.monotonic()))
        if proc.poll() is not None:
            res.error(-1, f"the app exited during the test (exit code {proc.returncode}); see its log")
        hung = sum(t.is_alive() for t in threads)
        if hung:
            res.error(-1, f"{hung} visitors still busy after the time limit")
        wall = time.monotonic() - t0
    finally:
        monitor.stop.set()
        monitor.join(timeout=2)
        end_rss_mb = procs.tree_rss_kb(proc.pid) / 1024  # after the runs: what the server gave back
        peak_mb = max(monitor.peak_kb, end_rss_mb * 1024) / 1024
        server_cpu = procs.cpu_seconds(proc.pid)
        boxed = box.stats() if box else None
        server.stop()
        if box:
            box.remove()
    log_text = log_path.read_text(errors="replace")
    tracebacks = log_text.count("Traceback (most recent call last)")
    if tracebacks:
        res.error(-1, f"{tracebacks} tracebacks in the server log ({log_path})")
    updates = [t for k, ts in res.times.items() if k.startswith(("scrub", "forcing")) for t in ts]
    upd = summary(updates)
    with_tabs = summary(updates + res.times.get("tab switch", []))
    runs_ok = all(r["outcome"] in ("finished", "queued with message") for r in res.runs)
    targets = {
        "every visitor loaded the page": res.loaded == a.visitors,
        "zero errors": not res.errors,
        **({f"peak RSS <= {TARGET_RSS_MB} MB": peak_mb <= TARGET_RSS_MB} if boxed is None else
           {"no OOM kill in the box": boxed["oom_kills"] == 0}),
        f"p95 update <= {TARGET_P95_S} s": upd["p95_s"] is not None and upd["p95_s"] <= TARGET_P95_S,
        "every run finished or queued with a message": runs_ok,
        "every planned action done": res.skipped == 0,
    }
    out = {
        "visitors": a.visitors, "trainers": a.trainers, "run": {"hidden": a.hidden, "epochs": a.epochs},
        "duration_s": a.duration, "wall_s": round(wall, 1),
        "port": port, "protocol": "streamlit websocket (BackMsg/ForwardMsg)", **info,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "app_revision": app_revision(), "streamlit_options": a.set, "server_cpu_s": round(server_cpu, 1),
        "loadtest_cpu_s": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 1),
        "box": boxed, "no_kernel": a.no_kernel, "server_start_s": round(start_s, 1),
        "rss_at_start_mb": round(start_rss_mb, 1),
        "pages_loaded": res.loaded, "peak_rss_mb": round(peak_mb, 1), "rss_samples": monitor.samples,
        "rss_at_end_mb": round(end_rss_mb, 1),
        "update": upd, "update_and_tab_switch": with_tabs,
        "by_kind": {k: summary(v) for k, v in sorted(res.times.items())},
        "errors": len(res.errors), "error_samples": res.errors[:20], "skipped_actions": res.skipped,
        "runs": sorted(res.runs, key=lambda r: r["visitor"]), "server_log": str(log_path),
        "targets": targets, "passed": all(targets.values()),
    }
    shutil.rmtree(tmp / "cache", ignore_errors=True)
    if out["passed"]:  # keep the server log only when something needs a look
        shutil.rmtree(tmp, ignore_errors=True)
        out["server_log"] = None
    print_summary(out)
    if a.json:
        print(json.dumps(out))
    return 0 if out["passed"] else 1


def print_summary(o: dict) -> None:
    def fmt(s: dict) -> str:
        if not s["count"]:
            return "n=0"
        return f"n={s['count']:<4} p50 {s['p50_s']:.3f} s  p95 {s['p95_s']:.3f} s  max {s['max_s']:.3f} s"

    print(f"gru_viz load test, {o['date']}: {o['visitors']} visitors ({o['trainers']} training hidden "
          f"{o['run']['hidden']} for {o['run']['epochs']} epochs) for "
          f"{o['duration_s']:.0f} s on {o['cpu']} ({o['cores']} cores), load average "
          f"{o['load_average_at_start'][0]} at start, {o['load_average_at_end'][0]} at end")
    print(f"  app               {o['app_revision']}" + (f"  options {' '.join(o['streamlit_options'])}"
                                                         if o["streamlit_options"] else ""))
    print(f"  pages loaded      {o['pages_loaded']}/{o['visitors']}")
    print(f"  peak server RSS   {o['peak_rss_mb']:.0f} MB ({o['rss_samples']} samples every 0.5 s); "
          f"{o['rss_at_start_mb']:.0f} MB when healthy, {o['server_start_s']} s after the start; "
          f"{o['rss_at_end_mb']:.0f} MB at the end")
    if o["box"]:
        b = o["box"]
        print(f"  box               {b['box']} (cgroup v{b['cgroup']}): peak {b['peak_mb']:.0f} MB of "
              f"{b['memory_limit_mb']} MB, {b['oom_kills']} OOM kills, CPU quota throttled {b['cpu_throttled_s']} s"
              + ("; no kernel build" if o["no_kernel"] else ""))
    print(f"  CPU time          server {o['server_cpu_s']} s, this load test {o['loadtest_cpu_s']} s "
          f"(wall {o['wall_s']} s)")
    print(f"  scrub + forcing         {fmt(o['update'])}")
    print(f"   + tab switches         {fmt(o['update_and_tab_switch'])}")
    for k, s in o["by_kind"].items():
        print(f"    {k:<24}{fmt(s)}")
    print(f"  errors            {o['errors']}   skipped actions {o['skipped_actions']}"
          + (f"   server log {o['server_log']}" if o["server_log"] else ""))
    for e in o["error_samples"]:
        print(f"    {e}")
    for r in o["runs"]:
        took = f" in {r['seconds']} s" if r["seconds"] is not None else ""
        print(f"  run of visitor {r['visitor']:<3} {r['outcome']}{took}"
              f"{' (the queued message was shown)' if r['queued_message'] else ''}")
    for name, ok in o["targets"].items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    print("PASSED" if o["passed"] else "FAILED")


if __name__ == "__main__":
    sys.exit(main())
