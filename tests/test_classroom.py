"""Classroom features: bundled snapshots, URLs that restore a view, both languages complete, upload cap."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.data import make_corpus
from gru_viz.explain.inference import corpus_perplexity, text_perplexity
from gru_viz.ui import strings

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = sorted((ROOT / "assets" / "pretrained").glob("epoch_*.safetensors"))


def test_bundled_snapshots_load_and_final_model_is_good(timemachine_raw):
    assert len(SNAPSHOTS) >= 5
    epochs = [int(p.stem.split("_")[1]) for p in SNAPSHOTS]
    assert epochs[0] == 1 and epochs[-1] == 500
    ckpts = [load_checkpoint(p) for p in SNAPSHOTS]
    final = ckpts[-1]
    assert final.config["hidden"] == 256 and final.config["epochs"] == 500 and len(final.history) == 500
    corpus = make_corpus(timemachine_raw, "tm")  # first 10,000 tokens, as in training
    assert final.vocab == corpus.vocab
    # over the minibatches d2l's iterator yields (the positions training sees), with fixed weights
    ppl = corpus_perplexity(final.model, corpus.tokens)
    assert ppl <= 1.2, ppl
    first = text_perplexity(ckpts[0].model, corpus.tokens[:2000])
    assert first > 10  # the early snapshot really is early
    assert sum(p.stat().st_size for p in SNAPSHOTS) < 8_000_000


def _fmt_fields(text: str) -> set[str]:
    return {f[1] for f in string.Formatter().parse(text) if f[1]}


def test_every_string_exists_in_both_languages_with_the_same_placeholders():
    assert set(strings.EN) == set(strings.ZH)
    for key, en in strings.EN.items():
        assert _fmt_fields(en) == _fmt_fields(strings.ZH[key]), key
        assert strings.ZH[key].strip(), key
    for term in ("重置门", "更新门", "候选隐状态", "隐状态", "困惑度"):
        assert any(term in v for v in strings.ZH.values()), term


def test_ui_code_has_no_stray_english_literals():
    """Labels come from strings.py: look for st.* calls with a literal English label in the UI modules."""
    pattern = re.compile(r"\.(button|radio|selectbox|slider|toggle|text_input|text_area|metric|header|subheader)"
                         r"\(\s*\"[A-Za-z]")
    for path in (ROOT / "gru_viz" / "ui").glob("*.py"):
        assert not pattern.search(path.read_text(encoding="utf-8")), path.name


def test_config_caps_uploads():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert 1 <= config["server"]["maxUploadSize"] <= 50


@pytest.fixture()
def fresh():
    yield
    st.cache_resource.clear()


def test_url_restores_the_view(fresh):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params.update({"step": "9", "preset": "plain_rnn", "unit": "3", "inspect": "pre:100",
                            "units_mode": "all", "hidden": "64", "epochs": "20"})
    at.run()
    assert not at.exception
    ss = at.session_state
    assert ss["step"] == 9 and ss["preset"] == "plain_rnn" and ss["unit"] == 3 and ss["units_mode"] == "all"
    assert ss["inspect"] == "pre:100" and ss["hidden"] == 64 and ss["epochs"] == 20
    import json

    data = json.loads(at.get("bidi_component")[0].proto.json)  # the in-browser scrubber opens on the link's view
    assert (data["goto"]["step"], data["goto"]["unit"]) == (9, 3) and len(data["payload"]["units"]) == 256


def test_url_in_chinese_and_projector_mode(fresh):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params.update({"lang": "zh", "proj": "true"})
    at.run()
    assert not at.exception
    assert at.session_state["proj"] is True
    assert any("门控循环单元" in t.value for t in at.title)
    assert any("PROJECTOR" not in m.value and "font-size: 22px" in m.value for m in at.markdown)


def test_bad_url_values_are_ignored(fresh):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params.update({"step": "99999", "preset": "<script>", "inspect": "run:77:latest", "hidden": "-5",
                            "tab": "nowhere"})
    at.run()
    assert not at.exception
    assert "preset" not in at.session_state or at.session_state["preset"] == "free"
    assert at.session_state["inspect"] == "pre:500"
    assert at.session_state["tab"] == "scrub" and "preset" not in at.query_params and "tab" not in at.query_params


def test_choices_are_written_to_the_url_as_keys(fresh):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.run()
    assert "preset" not in at.query_params and "tab" not in at.query_params  # defaults stay out of the link
    at.session_state["tab"] = "force"
    at.run()
    at.radio(key="w.preset.en").set_value("amnesia").run()
    at.selectbox(key="w.lang.any").set_value("zh").run()
    assert not at.exception
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert params["preset"] == "amnesia" and params["lang"] == "zh" and params["tab"] == "force"
    assert at.radio(key="w.preset.zh").value == "amnesia"  # the Chinese widget starts from the stored value
    at.radio(key="w.preset.zh").set_value("free").run()
    assert "preset" not in at.query_params


ENGLISH_WORD = re.compile(r"(?<![A-Za-z_\\])[A-Za-z]{3,}(?![A-Za-z_])")
ALLOWED = {"GRU", "RNN", "sub", "d2l", "nbsp"}  # names, and the <sub> tags of H<sub>t</sub>


def _chart_words(spec: dict) -> list[str]:
    """The words a chart shows: trace names, titles, axis titles, annotations (not data, not hover values)."""
    layout, out = spec.get("layout", {}), []
    out += [str(t.get("name", "")) for t in spec.get("data", []) if t.get("showlegend", True) is not False]
    out.append(str((layout.get("title") or {}).get("text", "")))
    for key, value in layout.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(value, dict):
            out.append(str((value.get("title") or {}).get("text", "")))
    out += [str(a.get("text", "")) for a in layout.get("annotations", [])]
    cbar = [t.get("colorbar", {}) for t in spec.get("data", []) if "colorbar" in t]
    out += [str((c.get("title") or {}).get("text", "")) for c in cbar]
    return out


def test_charts_in_chinese_carry_no_english_words(fresh):
    import json

    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    app.query_params.update({"lang": "zh"})
    app.run()
    found = {}
    for tab in ("scrub", "force", "train", "gates"):
        app.session_state["tab"] = tab
        app.run()
        assert not app.exception
        for chart in app.get("plotly_chart"):
            for text in _chart_words(json.loads(chart.proto.spec)):
                words = [w for w in ENGLISH_WORD.findall(text) if w not in ALLOWED]
                if words:
                    found[f"{tab}: {text}"] = words
    assert not found, found


def test_every_string_key_is_used_by_the_code():
    """A key counts as used when the UI code names it, or builds it from a prefix, suffix or infix it writes out
    (view.t(f"preset_{key}"), f"{name}_q", f"{name}_c_{choice}"); unused strings are removed, not kept."""
    source = ""
    for path in [*(ROOT / "gru_viz").rglob("*.py"), *(ROOT / "gru_viz").rglob("*.js")]:
        if path.parent.name != "i18n" and path.name != "strings.py":
            source += path.read_text(encoding="utf-8") + "\n"
    literal = set(re.findall(r"[\"']([a-z][a-z0-9_]*)[\"']", source))
    prefixes = set(re.findall(r"f[\"']([a-z][a-z0-9_]*)\{", source))
    suffixes = set(re.findall(r"\}(_[a-z0-9_]+)[\"']", source))
    infixes = set(re.findall(r"\}(_[a-z0-9]+_)\{", source))
    unused = [k for k in strings.EN if k not in literal and not any(k.startswith(p) for p in prefixes)
              and not any(k.endswith(s) for s in suffixes) and not any(i in k for i in infixes)]
    assert not unused, unused
