"""The Time Machine download over loopback HTTP: good file, checksum mismatch, refused connection, cache."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from gru_viz import data
from gru_viz.data import CorpusError, sources


@pytest.fixture()
def server(timemachine_raw):
    files = {"/good.txt": timemachine_raw.encode("utf-8"), "/bad.txt": b"not the time machine" * 100}
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()


def test_good_download_is_verified_and_cached(server, tmp_path):
    base, hits = server
    text = data.fetch_timemachine(f"{base}/good.txt", tmp_path)
    assert text.startswith("The Time Machine")
    assert data.sha1_of((tmp_path / data.TIMEMACHINE_FILE).read_bytes()) == data.TIMEMACHINE_SHA1
    again = data.fetch_timemachine(f"{base}/good.txt", tmp_path)
    assert again == text and hits == ["/good.txt"]  # the second call used the cache


def test_checksum_mismatch_is_refused_and_not_cached(server, tmp_path):
    base, _ = server
    with pytest.raises(CorpusError, match="wrong SHA-1"):
        data.fetch_timemachine(f"{base}/bad.txt", tmp_path)
    assert not (tmp_path / data.TIMEMACHINE_FILE).exists()


def test_corrupt_cache_is_replaced(server, tmp_path):
    base, hits = server
    (tmp_path / data.TIMEMACHINE_FILE).write_text("tampered")
    assert data.fetch_timemachine(f"{base}/good.txt", tmp_path).startswith("The Time Machine")
    assert hits == ["/good.txt"]


def test_refused_connection_says_offline(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    with pytest.raises(CorpusError, match="offline"):
        data.fetch_timemachine(f"http://127.0.0.1:{port}/timemachine.txt", tmp_path, timeout=2)


def test_http_error_is_a_clear_message(server, tmp_path):
    base, _ = server
    with pytest.raises(CorpusError, match="could not download"):
        data.fetch_timemachine(f"{base}/missing.txt", tmp_path)


def test_install_local_copy(timemachine_raw, tmp_path):
    src = tmp_path / "tm.txt"
    src.write_text(timemachine_raw, encoding="utf-8")
    assert data.install_timemachine(src, tmp_path / "c").is_file()
    src.write_text("other", encoding="utf-8")
    with pytest.raises(CorpusError, match="SHA-1"):
        data.install_timemachine(src, tmp_path / "d")


def test_oversized_download_is_refused_not_truncated(tmp_path, monkeypatch):
    import io

    class Endless(io.RawIOBase):  # a server that never stops sending
        def readable(self):
            return True

        def readinto(self, b):
            b[:] = b"a" * len(b)
            return len(b)

        def __enter__(self):
            return io.BufferedReader(self)

    monkeypatch.setattr(sources.urllib.request, "urlopen", lambda url, timeout: Endless())
    with pytest.raises(CorpusError, match="over the 5 MB limit"):
        data.fetch_timemachine("http://example.invalid/tm.txt", tmp_path)
    assert not (tmp_path / data.TIMEMACHINE_FILE).exists()


def test_install_reads_at_most_the_cap(tmp_path):
    with pytest.raises(CorpusError, match="/dev/zero: is a device, not a regular file"):
        data.install_timemachine("/dev/zero", tmp_path)
    sparse = tmp_path / "sparse.txt"
    with open(sparse, "wb") as f:
        f.truncate(30 * 2**30)
    with pytest.raises(CorpusError, match="limit"):
        data.install_timemachine(sparse, tmp_path / "c")
    assert not (tmp_path / "c").exists()
