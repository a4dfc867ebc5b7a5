"""The real upload route of the app under `streamlit run`: a session flooding PUT /_stcore/upload_file/<its
session>/<new id> (its XSRF cookie and header) holds at most its allowance (the manager's bytes, read from
/_stcore/metrics, and the server's RSS), and a hostile checkpoint uploaded by one session leaves another's page
answering. Bytes are counted; waits are liveness timeouts only."""

from __future__ import annotations

import re
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from gru_viz.ui.uploads import MAX_CKPT_MB, SESSION_UPLOAD_BYTES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.app_server import AppServer  # noqa: E402
from tools.procs import rss_kb  # noqa: E402
from tools.streamlit_client import StreamlitClient  # noqa: E402

LIVENESS_S = 180  # a page run takes a few seconds on this loaded 2-core machine; the quadratic parse took hours
FLOOD = 24  # the 16 MB PUTs: 384 MB held before the bound
METRICS_TTL_S = 5.5  # streamlit.web.server.starlette.starlette_routes._METRICS_EXPENSIVE_STATS_TTL_SECONDS, + 0.5
TTL_S = 3  # how long a closed tab's session is kept for a reconnect (120 s by default)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uploads")
    srv = AppServer(tmp / "server.log", env={"GRU_VIZ_CACHE_DIR": str(tmp / "cache")},
                    options=[f"server.disconnectedSessionTTL={TTL_S}"])  # closed sessions expire in seconds
    srv.start()
    yield srv
    srv.stop()


def _uploaded_bytes(url: str) -> int:
    """What the upload manager holds, as Streamlit's own metrics report it (0 when it holds nothing). Streamlit
    caches this family of its metrics for 5 s: wait that long first, so the figure is today's."""
    time.sleep(METRICS_TTL_S)
    with urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=30) as r:  # noqa: S310 (127.0.0.1)
        text = r.read().decode()
    found = re.findall(r'cache_memory_bytes\{cache_type="UploadedFileManager"[^}]*\}\s+(\d+)', text)
    return sum(map(int, found))


def _rss(pid: int) -> int:
    return rss_kb(pid) * 1024


@pytest.mark.slow
def test_a_session_flooding_the_upload_route_holds_at_most_its_allowance(server):
    client = StreamlitClient(server.port, timeout=LIVENESS_S)
    try:
        client.rerun()  # the page's first run, as a tab's: it installs the bound
        assert client.session_id
        data = bytes(MAX_CKPT_MB * 1_000_000)  # the 16 MB (the route refuses 16 MiB and its framing)
        rss_before = _rss(server.proc.pid)
        statuses, held = [], []
        for i in range(FLOOD):
            statuses.append(client.put_file(f"flood{i}.safetensors", data)[0])
            if i % 8 == 7:
                held.append(_uploaded_bytes(server.url))
        assert statuses == [204] * FLOOD
        assert len(data) <= held[-1] <= max(held) <= SESSION_UPLOAD_BYTES, held  # the newest file is kept
        grown = _rss(server.proc.pid) - rss_before
        assert grown < FLOOD * len(data) / 4, grown  # unbounded, RSS grew by every file (16 MB a PUT)
    finally:
        client.close()


@pytest.mark.slow
def test_a_session_whose_page_never_ran_cannot_flood_a_freshly_started_server(tmp_path):
    """The bound is on from the server's start (streamlit_app.py's st.App lifespan), not from the first page run:
    a session asks for a run and its stop at once, learns its id and PUTs with no page ever having run."""
    srv = AppServer(tmp_path / "server.log", env={"GRU_VIZ_CACHE_DIR": str(tmp_path / "cache"),
                                                  "GRU_VIZ_BUILD_EXT": "0"})
    srv.start()
    client = None
    try:
        for _ in range(10):  # the stop must land before the page's first Streamlit call; retried when it did not
            client = StreamlitClient(srv.port, timeout=LIVENESS_S)
            if client.stopped_run():
                break
            client.close()
        else:
            pytest.fail("no session got its id without its page running")
        data = bytes(MAX_CKPT_MB * 1_000_000)
        statuses = [client.put_file(f"early{i}.safetensors", data)[0] for i in range(4)]
        assert statuses == [204] * 4
        held = _uploaded_bytes(srv.url)
        assert len(data) <= held <= SESSION_UPLOAD_BYTES, held  # installed at the first page run: all 64 MB held
    finally:
        if client is not None:
            client.close()
        srv.stop()


@pytest.mark.slow
def test_a_hostile_checkpoint_in_one_session_leaves_another_answering(server):
    header = ('{"a":"' + '\\"' * 500_000).encode()  # 1 MB: the quadratic regex would have run for an hour
    crafted = len(header).to_bytes(8, "little") + header
    attacker, bystander = (StreamlitClient(server.port, timeout=LIVENESS_S) for _ in range(2))
    try:
        attacker.rerun()
        bystander.rerun()
        status, file_id = attacker.put_file("crafted.safetensors", crafted)
        assert status == 204
        done = threading.Event()

        def upload() -> None:
            attacker.set_upload("upload_ckpt", "crafted.safetensors", len(crafted), file_id)
            done.set()

        thread = threading.Thread(target=upload, daemon=True)
        thread.start()
        bystander.rerun()  # raises ProtocolError when the page does not finish within LIVENESS_S
        thread.join(LIVENESS_S)
        assert done.is_set()
        assert any("not valid JSON" in t for t in attacker.texts), attacker.texts[-5:]
        with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=30) as r:  # noqa: S310
            assert r.read() == b"ok"
    finally:
        attacker.close()
        bystander.close()


@pytest.mark.slow
def test_files_of_closed_sessions_are_released_once_their_sessions_expire(server):
    data = bytes(MAX_CKPT_MB * 1_000_000)
    leaving = [StreamlitClient(server.port, timeout=LIVENESS_S) for _ in range(3)]
    for client in leaving:  # each runs the page (which would release expired sessions' files), then uploads
        client.rerun()
    for client in leaving:
        assert client.put_file("left.safetensors", data)[0] == 204
    assert _uploaded_bytes(server.url) >= 3 * len(data)
    for client in leaving:
        client.close()  # then all three tabs close
    time.sleep(3 * TTL_S)  # past the reconnect window: Streamlit forgets them without shutting them down
    visitor = StreamlitClient(server.port, timeout=LIVENESS_S)
    try:
        visitor.rerun()  # the page first: the session exists, and a page run releases expired sessions' files
        assert visitor.put_file("mine.txt", b"the time traveller")[0] == 204
        deadline = time.monotonic() + LIVENESS_S  # a loaded machine may close a socket late: wait, never time
        while True:
            visitor.rerun()  # any page run releases the files of sessions that no longer exist
            held = _uploaded_bytes(server.url)
            if held == len(b"the time traveller") or time.monotonic() > deadline:
                break
            time.sleep(TTL_S)
        assert held == len(b"the time traveller")
    finally:
        visitor.close()
