#!/usr/bin/env python3
"""② under load: N visitors drag the Z control and type into the probe; the server's CPU seconds with ② on the
server (GRU_VIZ_LIVE_FORCE=0, every setting a student looks at is a rerun) and in the browser (only the settled
setting is one rerun), in alternating rounds on fresh servers.

    python tools/force_load.py --visitors 30 --moves 20 --typed 20 --rounds 2 [--json]

Each visitor is a websocket client (tools/streamlit_client.py) that opens ② with a custom forcing of Z, waits
until every visitor has the page, then makes `--moves` moves of the Z value (drags of `--drag` moves, 0.05 a
move, as the slider's step) and types `--typed` characters (words of `--word`) in a random order:
- server ②: each move is one rerun with the slider's new value (Streamlit's slider sends a value when a drag or
  a key press ends: a setting seen is a setting sent), each typed word one rerun with the new probe (the text
  box sends its text when it is committed, not per key);
- live ②: moves and keys send nothing (the page computes them); each drag and each word, once it has settled,
  is one rerun carrying the setting (the component's state, as force.js sends it 600 ms after the last change),
  with the attribution bars out of view (`live`: none computed) or in view (`live-bars`: computed each settle).
The server's CPU seconds (utime + stime of the server and its children, /proc) are read when it is healthy,
after the page loads and after the moves. The kernel build is off (GRU_VIZ_BUILD_EXT=0) so a compiler does
not count. Only 127.0.0.1 is contacted. See docs/LOADTEST.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import procs
from app_server import HOST, ROOT, AppServer, ServerError

sys.path.insert(0, str(ROOT))  # the app of this checkout, whichever one the environment has installed
from streamlit_client import ProtocolError, StreamlitClient  # noqa: E402

# live: the attribution bars out of view (the page says so with each settled setting: none computed);
# live-bars: every visitor has them in view (each settle computes the gradient through the probe)
MODES = {"server": "0", "live": "1", "live-bars": "1"}
QUERY = "tab=force&preset=custom&fz_on=true&fz_val=0.0"
BASE = "a gate decides how much of the past to keep "  # the probe every visitor starts from (text written here)
STEP = 0.05  # the Z slider's step (gru_viz/ui/registry.py)


class Client(StreamlitClient):
    """A tab that also counts what the server sends it."""

    def __init__(self, port: int, timeout: float):
        super().__init__(port, timeout, HOST)
        self.received = 0
        self.reruns = 0
        recv = self.ws.recv

        def counted():
            data = recv()
            self.received += len(data or b"")
            return data

        self.ws.recv = counted

    def rerun(self, *args, **kwargs) -> float:
        self.reruns += 1
        return super().rerun(*args, **kwargs)


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of the server and its descendants (a process gone meanwhile counts nothing)."""
    return sum(s for p in procs.tree(pid) if (s := procs.cpu_seconds(p)) == s)


def plan(rng: random.Random, moves: int, drag: int, typed: int, word: int) -> list[tuple[str, int]]:
    """Drags and words in a random order: ("drag", moves in it) and ("type", letters in it)."""
    out = [("drag", min(drag, moves - k)) for k in range(0, moves, drag)]
    out += [("type", min(word, typed - k)) for k in range(0, typed, word)]
    rng.shuffle(out)
    return out


def visit(i: int, mode: str, a, port: int, loaded: threading.Barrier, out: dict, lock: threading.Lock) -> None:
    rng = random.Random(a.seed * 1000 + i)
    c = None
    rec = {"visitor": i, "errors": [], "times": [], "reruns_loading": 0, "reruns": 0, "received": 0}
    try:
        c = Client(port, a.timeout)
        c.query = QUERY
        c.rerun()
        rec["reruns_loading"] = c.reruns
        c.reruns, c.received = 0, 0
        loaded.wait(a.timeout * 4)
        z, probe = 0.0, BASE
        live = json.loads(c.widget("live_force")[2].json)["setting"] if mode != "server" else None
        for kind, n in plan(rng, a.moves, a.drag, a.typed, a.word):
            time.sleep(rng.uniform(0.2, 0.8))  # think time before a drag or a word
            if kind == "drag":
                way = rng.choice((-1, 1))
                for _ in range(n):
                    if not 0 <= z + way * STEP <= 1:
                        way = -way
                    z = round(z + way * STEP, 2)
                    if mode == "server":
                        rec["times"].append(c.set_slider("fz_val", z))
                    else:
                        time.sleep(0.05)  # the browser answers the move; the server hears nothing
                want = f"fz_val={z:g}" if z else "fz_on=true"  # a default value is left out of the link
            else:
                probe += "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)) + " "
                if mode == "server":
                    rec["times"].append(c.set_text("probe", probe))
                else:
                    time.sleep(0.1 * n)  # typing: each key re-traced in the page
                want = "probe="
            if mode != "server":  # the settled setting: one rerun
                live.update(version=1, fz_on=True, fz_val=z, probe=probe, att=mode == "live-bars")
                rec["times"].append(c.set_json("live_force", {"setting": live}))
            if want not in c.query:
                rec["errors"].append(f"{kind}: the address bar has {c.query!r}, not {want}")
        rec["reruns"], rec["received"] = c.reruns, c.received
        rec["errors"] += c.errors
    except (ProtocolError, OSError, threading.BrokenBarrierError) as exc:
        rec["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        if c is not None:
            c.close()
        with lock:
            out["visitors"].append(rec)


def one_round(mode: str, a) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="gru_viz_force_load_"))
    env = {"GRU_VIZ_CACHE_DIR": str(tmp / "cache"), "GRU_VIZ_LIVE_FORCE": MODES[mode], "GRU_VIZ_BUILD_EXT": "0"}
    server = AppServer(tmp / "server.log", env)
    server.start()
    pid = server.proc.pid
    res: dict = {"mode": mode, "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "visitors": []}
    lock = threading.Lock()
    try:
        cpu0 = tree_cpu_s(pid)
        marks: dict[str, float] = {}
        loaded = threading.Barrier(a.visitors + 1)
        threads = [threading.Thread(target=visit, args=(i, mode, a, server.port, loaded, res, lock), daemon=True)
                   for i in range(a.visitors)]
        for t in threads:
            t.start()
            time.sleep(a.ramp / a.visitors)
        loaded.wait(a.timeout * 4)
        marks["loaded"] = tree_cpu_s(pid)
        t0 = time.monotonic()
        for t in threads:
            t.join(a.timeout * 10)
        wall = time.monotonic() - t0
        marks["moved"] = tree_cpu_s(pid)
        tracebacks = server.log_text().count("Traceback (most recent call last)")
    finally:
        server.stop()
    vs = res.pop("visitors")
    times = sorted(t for v in vs for t in v["times"])
    res.update(
        cpu_loading_s=round(marks["loaded"] - cpu0, 2), cpu_moving_s=round(marks["moved"] - marks["loaded"], 2),
        wall_moving_s=round(wall, 1), reruns_loading=sum(v["reruns_loading"] for v in vs),
        reruns_moving=sum(v["reruns"] for v in vs), received_moving_kb=round(sum(v["received"] for v in vs) / 1024),
        rerun_p50_s=round(times[len(times) // 2], 3) if times else None,
        rerun_p95_s=round(times[max(0, int(len(times) * 0.95) - 1)], 3) if times else None,
        errors=[e for v in vs for e in v["errors"]][:10] + ([f"{tracebacks} tracebacks in the log"] * bool(tracebacks)),
        load_average_at_end=[round(x, 2) for x in os.getloadavg()])
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--visitors", type=int, default=30)
    p.add_argument("--moves", type=int, default=20, help="moves of the Z control per visitor")
    p.add_argument("--drag", type=int, default=10, help="moves in one drag (the live ② settles once a drag)")
    p.add_argument("--typed", type=int, default=20, help="characters typed into the probe per visitor")
    p.add_argument("--word", type=int, default=5, help="characters in one typed word (settled or committed once)")
    p.add_argument("--rounds", type=int, default=1, help="server, live, server, live, …: rounds of each")
    p.add_argument("--modes", default="server,live,live-bars",
                   help="which of server,live,live-bars to run, in this order each round")
    p.add_argument("--ramp", type=float, default=10, help="seconds over which the visitors open the page")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    modes = a.modes.split(",")
    if not set(modes) <= set(MODES) or not modes:
        p.error(f"--modes: a comma-separated list of {', '.join(MODES)}")
    if not (1 <= a.visitors <= 200 and 0 <= a.moves <= 1000 and 0 <= a.typed <= 1000 and a.drag >= 1
            and a.word >= 1 and 1 <= a.rounds <= 10):
        p.error("need 1 <= visitors <= 200, moves and typed in 0..1000, drag and word >= 1, 1 <= rounds <= 10")
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown")
    rounds = []
    try:
        for _ in range(a.rounds):
            for mode in modes:
                rounds.append(one_round(mode, a))
                r = rounds[-1]
                print(f"{mode:<6} load {r['load_average_at_start'][0]:>5}  CPU s: loading {r['cpu_loading_s']:>6}  "
                      f"moving+typing {r['cpu_moving_s']:>6}  reruns {r['reruns_moving']:>4}  "
                      f"received {r['received_moving_kb']:>6} kB  p50/p95 {r['rerun_p50_s']}/{r['rerun_p95_s']} s  "
                      f"errors {len(r['errors'])}", flush=True)
                for e in r["errors"]:
                    print(f"    {e}")
    except ServerError as exc:
        print(f"force_load: the app did not start: {exc}", file=sys.stderr)
        return 2
    out = {"cpu": cpu, "cores": os.cpu_count(), "visitors": a.visitors, "moves": a.moves, "drag": a.drag,
           "typed": a.typed, "word": a.word, "rounds": rounds}
    if a.json:
        print(json.dumps(out))
    return 1 if any(r["errors"] for r in rounds) else 0


if __name__ == "__main__":
    sys.exit(main())
