"""Floods of issue 31 against a running app, optionally in a box: class mode (starts and joins from fresh
sessions with forged X-Forwarded-For from loopback, then a genuine teacher from 127.0.0.2 and a student from
127.0.0.3), pasted texts (visitors who paste 2,000,000 characters and leave) and finished runs (one visitor's runs
one after another). Prints one JSON object.

    python tools/flood.py --box 2,2700m        # Community Cloud's large app; --box 1,1g the small one
    python tools/flood.py --box 1,1g --no-class --no-runs --pastes 10   # 10 visitors paste 2,000,000 characters
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_server import AppServer, ServerError, install_timemachine  # noqa: E402
from box import Box, BoxError, parse_box  # noqa: E402
from load_visitor import Visitor  # noqa: E402
from loadtest import app_env  # noqa: E402
from procs import tree_rss_kb  # noqa: E402
from streamlit_client import ProtocolError, StreamlitClient  # noqa: E402

CODE_RX = re.compile(r'line-height:1.1">([A-Z0-9]{6})</div>')
RUN_QUERY = "max_tokens=1000&hidden=512&epochs=2&batch_size=2&num_steps=5"
# issue 31's case: a raw paste of 4,000 distinct characters, hidden 512, batch 1, steps 1
PASTE_QUERY = ("corpus_source=paste&tokens=raw&max_vocab=4000&max_tokens=100&hidden=512&epochs=1&batch_size=1"
               "&num_steps=1")
PASTE = "".join(chr(0x4E00 + i) for i in range(3990)) * 2  # CJK ideographs, each twice


def page(port: int, source: str = "127.0.0.1", forwarded: str | None = None, query: str = "") -> StreamlitClient:
    c = StreamlitClient(port, 60, source=source, headers=[f"X-Forwarded-For: {forwarded}"] if forwarded else [])
    c.query = query
    c.rerun()
    return c


def start_class(port: int, source: str, forwarded: str | None = None) -> str | None:
    c = page(port, source, forwarded)
    try:
        c.press("class_start")
        m = c.text(CODE_RX)
        return m.group(1) if m else None
    finally:
        c.close()


def class_flood(port: int, starts: int, joins: int) -> dict:
    started = sum(start_class(port, "127.0.0.1", f"10.9.{i // 250}.{i % 250 + 1}") is not None
                  for i in range(starts))
    teacher = start_class(port, "127.0.0.2")
    joined = 0
    for i in range(joins):
        c = page(port, "127.0.0.1", f"10.8.{i // 250}.{i % 250 + 1}", f"class={teacher}")
        joined += c.text("You are in class") is not None
        c.close()
    student = page(port, "127.0.0.3", None, f"class={teacher}")
    out = {"flood_starts": starts, "flood_started": started, "teacher_code": teacher,
           "flood_joins": joins, "flood_joined": joined,
           "student_in_class": student.text(f"You are in class **{teacher}**") is not None}
    student.close()
    return out


def runs_flood(port: int, runs: int, paste: bool, hidden: int = 512) -> dict:
    v = Visitor(port, 120)
    v.query = (PASTE_QUERY if paste else RUN_QUERY).replace("hidden=512", f"hidden={hidden}")
    v.rerun()
    if paste:
        v.set_text("paste_text", PASTE)
    v.open_tab("train")
    finished, refused = 0, []
    epochs = 1 if paste else 2
    for i in range(runs):
        v.press("btn_start")
        if v.errors:  # refused up front (too big for this box): the message is the outcome
            refused.append(v.errors.pop()[:160])
            break
        done = f"Run {i + 1} (GRU) · latest, epoch {epochs}"  # the model chooser lists the run at its last epoch
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(done in o for o in v.widget("inspect")[2].options):
            time.sleep(1.0)
            v.rerun()
        finished += any(done in o for o in v.widget("inspect")[2].options)
    time.sleep(2.0)  # the page can show "Finished" just before the run's thread has counted what it keeps
    v.rerun()
    try:  # the model chooser lists only the runs whose models are kept
        kept = sum(" · latest" in o for o in v.widget("inspect")[2].options)
    except ProtocolError:
        kept = None
    v.close()
    return {"runs": runs, "finished": finished, "runs_still_inspectable": kept, "refused": refused}


def pastes_flood(server: AppServer, pastes: int, after: float) -> dict:
    """`pastes` visitors each paste 2,000,000 CJK characters (issue 31: 26 MB a session, kept after its socket
    closed) and leave; memory is read then, and again `after` s later (past the reconnect window) after a page run."""
    text = "".join(chr(0x4E00 + (i * 7919) % 3990) for i in range(2_000_000))
    page(server.port).close()  # the app loaded (torch and all) before the baseline
    before = round(tree_rss_kb(server.proc.pid) / 1024)
    shown = 0
    for _ in range(pastes):
        v = Visitor(server.port, 300)
        v.query = "corpus_source=paste&tokens=raw&max_tokens=200000"
        v.rerun()
        v.set_text("paste_text", text)
        shown += any("vocabulary of" in t for t in v.texts)  # the corpus's caption: it was built
        v.close()
    out = {"pastes": pastes, "pastes_built": shown, "rss_before_pastes_mb": before,
           "rss_after_pastes_mb": round(tree_rss_kb(server.proc.pid) / 1024)}
    time.sleep(after)
    late = page(server.port)  # a page run after the wait
    late.close()
    out |= {"pastes_wait_s": after, "rss_after_pastes_wait_mb": round(tree_rss_kb(server.proc.pid) / 1024)}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--box", default=None, metavar="CPUS,MEMORY")
    p.add_argument("--starts", type=int, default=200)
    p.add_argument("--joins", type=int, default=400)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--kept-mb", type=float, default=60, help="GRU_VIZ_KEPT_PER_VISITOR_MB for the app")
    p.add_argument("--paste", action="store_true", help="runs on a paste of 3,990 distinct characters (issue 31)")
    p.add_argument("--no-class", action="store_true", help="only the finished-runs flood")
    p.add_argument("--hidden", type=int, default=512, help="hidden units of the flood's runs")
    p.add_argument("--pastes", type=int, default=0, help="visitors who each paste 2,000,000 CJK characters first")
    p.add_argument("--after", type=float, default=130, help="seconds after the pastes before memory is read again")
    p.add_argument("--no-runs", dest="no_runs", action="store_true", help="skip the finished-runs flood")
    a = p.parse_args()
    try:
        box = Box(parse_box(a.box)).create() if a.box else None
    except (ValueError, BoxError) as exc:
        print(f"flood: error: {exc}")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="gru_viz_flood_"))
    env = app_env(tmp / "cache", None, True) | {"GRU_VIZ_KEPT_PER_VISITOR_MB": str(a.kept_mb)}
    server = AppServer(tmp / "server.log", env, [], box.command if box else None, None)
    out: dict = {"box": a.box}
    try:
        install_timemachine(tmp / "cache")
        server.start()
        pid = server.proc.pid
        out["rss_start_mb"] = round(tree_rss_kb(pid) / 1024)
        if not a.no_class:
            out |= class_flood(server.port, a.starts, a.joins)
        out["rss_after_class_flood_mb"] = round(tree_rss_kb(pid) / 1024)
        if a.pastes:
            out |= pastes_flood(server, a.pastes, a.after)
        if not a.no_runs:
            out |= runs_flood(server.port, a.runs, a.paste, a.hidden)
            out["rss_after_runs_mb"] = round(tree_rss_kb(pid) / 1024)
        out["alive"] = server.alive()
    except (ServerError, ProtocolError, OSError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["alive"] = server.alive() if server.proc else False
    finally:
        out["box_stats"] = box.stats() if box else None
        server.stop()
        if box:
            box.remove()
    out["tracebacks"] = (tmp / "server.log").read_text(errors="replace").count("Traceback")
    print(json.dumps(out))
    return 0 if out.get("alive") and not out.get("error") else 1


if __name__ == "__main__":
    sys.exit(main())
