"""Parsers of untrusted text run in linear time: hostile inputs large enough that quadratic work would take
minutes or hours finish under a liveness timeout (100x the expected time, in a subprocess that can be killed),
and the linear depth count agrees with Python's own parser on every document it can read."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import textwrap

import pytest

from gru_viz.checkpoints import checkpoint as ck

ESCAPED_QUOTES = '{"a":"' + '\\"' * 500_000  # 1 MB, unterminated: the string regex retried at every quote
LIVENESS_S = 120  # the parse takes well under a second here; importing torch a few; the old regex 70 minutes


def _nesting(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_nesting, value), default=0)
    return 0


def _random_json(rng: random.Random, depth: int) -> object:
    """Nested lists and objects whose strings are full of what confuses a scanner: quotes, backslashes,
    brackets, and escapes of each."""
    if depth == 0 or rng.random() < 0.3:
        return "".join(rng.choice(['"', "\\", "[", "]", "{", "}", "a", "\\\\", '\\"', "é", "\u4e00"])
                       for _ in range(rng.randrange(8)))
    if rng.random() < 0.5:
        return [_random_json(rng, depth - 1) for _ in range(rng.randrange(4))]
    return {_random_json(rng, 0): _random_json(rng, depth - 1) for _ in range(rng.randrange(4))}


def test_json_depth_agrees_with_the_parser_on_strings_full_of_escapes():
    rng = random.Random(31)
    for _ in range(500):
        doc = _random_json(rng, rng.randrange(1, 10))
        for ensure_ascii in (True, False):
            raw = json.dumps(doc, ensure_ascii=ensure_ascii).encode()
            assert ck.json_depth(raw) == _nesting(doc), raw


def test_json_depth_carries_the_string_state_across_its_chunks():
    # a string that opens in one chunk of the scan and closes many chunks later hides its brackets throughout
    doc = ["[" * (3 * ck._SCAN_CHUNK) + '\\"', [[[]]], {"b": "]" * ck._SCAN_CHUNK}]
    assert ck.json_depth(json.dumps(doc).encode()) == 4
    assert ck.json_depth(b"[" * (5 * ck._SCAN_CHUNK), limit=8) > 8  # a limit stops the scan early


def test_json_depth_reads_only_utf8():
    # UTF-16 hides a quote byte inside a character (U+4122 is the bytes 22 41): such a header is refused
    hidden = '["\u4122", ' + "[" * 50 + "]" * 50 + "]"
    with pytest.raises(ck.CheckpointError, match="not valid JSON"):
        ck._bounded_json(hidden.encode("utf-16-le"), "the header", "f", 1 << 20)


def _crafted_files(tmp_path) -> dict[str, str]:
    """A header, a vocabulary and a history that are each an unterminated string of escaped quotes."""
    tensors = {n: p.detach().clone() for n, p in _model_params().items()}
    header = ESCAPED_QUOTES.encode()
    files = {"header": b"%s%s" % (len(header).to_bytes(8, "little"), header),
             "vocab": ck.st_save(tensors, metadata={"format": ck.FORMAT, "vocab": ESCAPED_QUOTES[:60_000]}),
             "history": ck.st_save(tensors, metadata={"format": ck.FORMAT, "vocab": '["<unk>", "a", " "]',
                                                      "history": ESCAPED_QUOTES})}
    paths = {}
    for name, data in files.items():
        paths[name] = str(tmp_path / f"{name}.safetensors")
        with open(paths[name], "wb") as f:
            f.write(data)
    return paths


def _model_params():
    import torch

    from gru_viz.nets.model import GRUScratch

    return GRUScratch(3, 4, generator=torch.Generator().manual_seed(0)).params()


def test_escaped_quote_header_vocab_and_history_are_refused_in_linear_time(tmp_path):
    paths = _crafted_files(tmp_path)
    script = textwrap.dedent(f"""
        from gru_viz.checkpoints.checkpoint import CheckpointError, load_checkpoint
        for path in {list(paths.values())!r}:
            try:
                load_checkpoint(path)
            except CheckpointError as exc:
                print(exc)
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=LIVENESS_S,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and all("not valid JSON" in line for line in lines), lines


def test_cli_sample_refuses_the_escaped_quote_header_in_one_line(tmp_path):
    path = _crafted_files(tmp_path)["header"]
    proc = subprocess.run([sys.executable, "-m", "gru_viz", "sample", "--checkpoint", path], capture_output=True,
                          text=True, timeout=LIVENESS_S, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not valid JSON" in proc.stderr, proc.stderr


def test_link_values_longer_than_any_setting_are_refused_before_parsing(monkeypatch):
    from gru_viz.ui import page_state

    seen = []
    for key, setting in page_state.SETTINGS.items():
        counted = lambda text, parse=setting.parse: (seen.append(len(text)), parse(text))[1]  # noqa: E731
        monkeypatch.setitem(page_state.SETTINGS, key, dataclasses.replace(setting, parse=counted))
    huge = "A" * 10_000_000  # 10 MB in one URL parameter: the parsers read none of it
    for key in ("class", "hidden", "lr", "probe", "f_steps", "lang"):
        with pytest.raises(ValueError, match="a link may carry"):
            page_state.parse_url_value(key, [huge])
    assert seen == []
    assert page_state.parse_url_value("class", ["acd-346"]) == "ACD346" and seen == [7]
    assert page_state.parse_url_value("probe", ["x" * page_state.MAX_URL_VALUE]) == "x" * page_state.MAX_URL_VALUE
