"""The raw-character mode (issue 17): its vocabulary, encoding of every character class, checkpoints that keep
the mode, row lookups equal to d2l's one-hot products on both training paths, the CLI, and the unit features."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from zh_text import chinese_text

from gru_viz.checkpoints.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint
from gru_viz.cli import main
from gru_viz.data import (
    MAX_VOCAB,
    RAW_KEEP_ALL,
    UNK,
    UNK_CHAR,
    CorpusError,
    Vocab,
    coverage_size,
    default_raw_size,
    make_corpus,
    visible_char,
)
from gru_viz.explain.analysis import RAW_FEATURES, best_per_feature, rank_units, raw_char_features, sentence_ends
from gru_viz.fast import ext as fast_ext
from gru_viz.fast import run_step
from gru_viz.nets.model import FREE, PARAM_NAMES, GRUScratch
from gru_viz.nets.rnn import RNNScratch
from gru_viz.train import textbook_step
from gru_viz.views.figures import show_char

EVERY_CLASS = 'Ab Z\tq9 0"x" \'y\' (a[b]{c})\n  indented.\r\n中文，标点。「引号」😀 e\u0301 Ω\n'


# --- the vocabulary and the encoding --------------------------------------------------------------------


def test_raw_vocabulary_keeps_every_character_of_a_small_alphabet_and_cuts_only_large_ones():
    text = "a" * 900 + "b" * 96 + "c" * 3 + "d"  # rare c and d are kept: 4 distinct characters
    vocab = make_corpus(text, "t", 0, "raw").vocab
    assert vocab.idx_to_token == [UNK, "a", "b", "c", "d"] and vocab.mode == "raw"
    # Python's documentation style: 86 distinct characters (digits, capitals, + / ; # < >) all kept
    doc = "".join(chr(c) for c in range(33, 119)) + "the quick brown fox " * 200
    assert len(make_corpus(doc, "t", 0, "raw").vocab) == len(set(doc)) + 1
    # a large alphabet (400 distinct, a few frequent): cut to the 99.5 % coverage rule
    big = "".join(chr(0x4E00 + i) for i in range(400)) + "一" * 100_000
    assert default_raw_size(sorted(Counter(big).values(), reverse=True)) == coverage_size(
        sorted(Counter(big).values(), reverse=True)) < RAW_KEEP_ALL
    assert coverage_size([900, 96, 3, 1]) == 3 and coverage_size([900, 94, 5, 1]) == 4  # 99.4 % needs c too


def test_raw_vocabulary_cap_and_its_limits():
    text = "".join(chr(0x4E00 + i) * (i + 1) for i in range(50))  # 50 characters, the last most frequent
    corpus = make_corpus(text, "t", 0, "raw", max_vocab=11)
    assert len(corpus.vocab) == 11 and corpus.vocab.idx_to_token[1] == chr(0x4E00 + 49)
    assert corpus.coverage == pytest.approx(sum(range(41, 51)) / sum(range(1, 51)))
    for bad in (1, MAX_VOCAB + 1):
        with pytest.raises(CorpusError, match="vocabulary size"):
            make_corpus(text, "t", 0, "raw", max_vocab=bad)


def test_d2l_mode_is_unchanged_and_refuses_chinese_with_a_hint():
    corpus = make_corpus("The Time, Machine!\nby Wells", "t", 0)
    assert corpus.text == "the time machineby wells" and corpus.vocab.mode == "d2l"
    with pytest.raises(CorpusError, match="raw-character"):
        make_corpus(chinese_text(1), "zh", 0)


def test_every_character_class_round_trips():
    corpus = make_corpus(EVERY_CLASS, "t", 0, "raw", max_vocab=MAX_VOCAB)
    text = EVERY_CLASS.replace("\r\n", "\n")  # the one change raw mode makes: Windows line endings
    assert corpus.text == text and corpus.coverage == 1.0
    assert corpus.vocab.decode(corpus.vocab.encode(text)) == text
    for ch in "AZ9\t\n 中，😀\u0301Ω'\"({[":
        assert ch in corpus.vocab.token_to_idx, repr(ch)


def test_unknown_characters_decode_to_one_character_in_raw_mode():
    vocab = Vocab([UNK, "a", "b"], "raw")
    assert vocab.decode(vocab.encode("abc")) == "ab" + UNK_CHAR
    assert Vocab([UNK, "a"]).decode([0, 1]) == "<unk>a"  # d2l's vocabulary as before
    assert Vocab([UNK, "a"], "raw") != Vocab([UNK, "a"], "d2l")


def test_visible_characters_for_axes_and_tapes():
    assert [visible_char(c) for c in "\n\t a中\x00"] == ["↵", "⇥", "␣", "a", "中", "␀"]
    assert show_char("\n") == "↵" and show_char(" ") == "␣"  # the figures use the same mapping


# --- checkpoints ----------------------------------------------------------------------------------------


def test_checkpoint_keeps_the_mode_and_a_large_raw_vocabulary(tmp_path):
    tokens = [UNK] + [chr(0x4E00 + i) for i in range(MAX_VOCAB - 3)] + ["😀", "\n"]
    vocab = Vocab(tokens, "raw")
    data = checkpoint_bytes(GRUScratch(len(vocab), 2), vocab, {"hidden": 2})
    loaded = load_checkpoint(data)
    assert loaded.vocab == vocab and loaded.vocab.mode == "raw" and loaded.meta["tokens"] == "raw"
    assert load_checkpoint(checkpoint_bytes(GRUScratch(3, 2), Vocab([UNK, "a", "b"]))).vocab.mode == "d2l"


def _with_meta(data: bytes, **meta: str) -> bytes:
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"].update(meta)
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data[8 + n :]


@pytest.mark.parametrize("meta, match", [
    ({"tokens": "bytes"}, "unknown tokenisation"),
    ({"vocab": json.dumps([UNK] + [chr(0x4E00 + i) for i in range(MAX_VOCAB)])}, "2 to 4,000"),
    ({"vocab": '["<unk>", "a", "\\ud800"]'}, "single characters"),
    ({"tokens": None}, "metadata"),
], ids=["unknown mode", "4,001 tokens", "lone surrogate", "mode not a string"])
def test_checkpoint_refuses_bad_modes_and_vocabularies(meta, match):
    data = checkpoint_bytes(GRUScratch(3, 2), Vocab([UNK, "a", "b"], "raw"))
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(_with_meta(data, **meta))


def test_a_checkpoint_without_a_mode_is_read_as_d2l():
    data = checkpoint_bytes(GRUScratch(3, 2), Vocab([UNK, "a", "b"], "raw"))
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    del header["__metadata__"]["tokens"]
    raw = json.dumps(header).encode()
    assert load_checkpoint(len(raw).to_bytes(8, "little") + raw + data[8 + n :]).vocab.mode == "d2l"


# --- row lookups against d2l's one-hot products, on both training paths -----------------------------------

V, H, B, T = 300, 12, 4, 6


def _model(cls=GRUScratch, one_hot: bool = False, dtype=torch.float64):
    m = cls(V, H, generator=torch.Generator().manual_seed(0)).to(dtype)
    m.one_hot_max_vocab = 10**9 if one_hot else 0
    with torch.no_grad():  # larger than d2l's init, so every gradient is far from zero
        gen = torch.Generator().manual_seed(1)
        for p in m.params().values():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * 0.3)
    return m


def _batches(n: int = 4, batch: int = B):
    gen = torch.Generator().manual_seed(2)
    return [(torch.randint(0, V, (batch, T), generator=gen), torch.randint(0, V, (batch, T), generator=gen))
            for _ in range(n)]


def _train(model, step, batch: int = B) -> torch.nn.Module:
    state = model.begin_state(batch)
    for X, Y in _batches(batch=batch):
        _, state = step(model, X, Y, state, 1.0, 1.0, FREE)
    return model


def _assert_close(a, b, names=PARAM_NAMES):
    for n in names:
        x, ref = getattr(a, n).detach().double(), getattr(b, n).detach().double()
        assert float((x - ref).abs().max()) <= 1e-5 * max(1.0, float(ref.abs().max())), n


def test_the_forward_never_builds_one_hot_inputs_above_the_threshold(monkeypatch):
    import gru_viz.nets.model as model_module

    def refuse(*a, **k):
        raise AssertionError("one_hot called")

    monkeypatch.setattr(model_module.F, "one_hot", refuse)
    m = GRUScratch(V, H)  # V above ONE_HOT_MAX_VOCAB
    m(torch.randint(0, V, (B, T)), m.begin_state(B))
    with pytest.raises(AssertionError, match="one_hot"):
        GRUScratch(28, H)(torch.randint(0, 28, (B, T)), torch.zeros(B, H))  # d2l's size: one-hot, as the book


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_textbook_lookup_equals_one_hot_after_the_same_batches(dtype):
    _assert_close(_train(_model(dtype=dtype), textbook_step), _train(_model(one_hot=True, dtype=dtype), textbook_step))


def test_plain_rnn_lookup_equals_one_hot():
    ref = _train(_model(RNNScratch, one_hot=True), textbook_step)
    _assert_close(_train(_model(RNNScratch), textbook_step), ref, names=list(ref.params()))


@pytest.fixture(scope="module")
def cpp_kernel():
    if fast_ext.load_extension() is None:
        if fast_ext.compiler_problem():
            pytest.skip(fast_ext.compiler_problem())
        fast_ext.build_extension()
    return "cpp"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("loops", ["torch-rows", "cpp"])
def test_fast_path_equals_textbook_one_hot_with_a_large_vocabulary(loops, dtype, monkeypatch):
    """The row-major sets of loops (the feature-major set takes vocabularies up to 64)."""
    from fast_loops import install_spies, require, run_on

    require(loops, dtype, V, B)
    ran = install_spies(monkeypatch)

    def fast(m, X, Y, s, lr, clip, f):
        return run_on(loops, ran, m, X, Y, s, lr, clip, f)

    _assert_close(_train(_model(dtype=dtype), fast), _train(_model(one_hot=True, dtype=dtype), textbook_step))


def test_cpp_kernel_with_several_blocks_and_a_large_vocabulary(cpp_kernel):
    """Rows split into blocks (one per thread) while the input gradient is summed by columns."""
    old = torch.get_num_threads()
    torch.set_num_threads(2)  # 32 rows: 2 blocks of 16 (at least MIN_ROWS_PER_BLOCK each)

    def fast(m, X, Y, s, lr, clip, f):
        return run_step(m, X, Y, s, lr, clip, f, loops="cpp")

    try:
        _assert_close(_train(_model(), fast, 32), _train(_model(one_hot=True), textbook_step, 32))
    finally:
        torch.set_num_threads(old)


# --- the CLI --------------------------------------------------------------------------------------------


def test_cli_trains_traces_and_samples_in_raw_mode(tmp_path, capsys):
    src = tmp_path / "code.txt"
    src.write_text(('def f(x):\n\treturn "Hello, World!"  # 42\n' * 60) + chinese_text(1), encoding="utf-8")
    ckpt = tmp_path / "raw.safetensors"
    assert main(["train", "--corpus", str(src), "--tokens", "raw", "--epochs", "2", "--hidden", "8",
                 "--batch-size", "4", "--num-steps", "10", "--max-tokens", "0", "--out", str(ckpt),
                 "--prefix", "def", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    loaded = load_checkpoint(ckpt)
    assert result["tokens"] == "raw" and loaded.vocab.mode == "raw" and loaded.config["tokens"] == "raw"
    assert {"\t", "\n", "H", "!", "4", "中"} <= set(loaded.vocab.idx_to_token)
    out = tmp_path / "t.npz"
    probe = 'def g():\n\treturn "Hi"'
    assert main(["trace", "--checkpoint", str(ckpt), "--text", probe, "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"{len(probe)} steps")
    with np.load(out) as z:
        assert str(z["text"]) == probe and z["H"].shape == (len(probe), 8)  # every character, one step each
    assert main(["sample", "--checkpoint", str(ckpt), "--prefix", "def f(", "--n", "20"]) == 0
    assert capsys.readouterr().out.startswith("def f(")


def test_cli_max_vocab_caps_the_vocabulary(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("aaaabbbccd" * 100, encoding="utf-8")
    ckpt = tmp_path / "c.safetensors"
    assert main(["train", "--corpus", str(src), "--tokens", "raw", "--max-vocab", "3", "--epochs", "1",
                 "--hidden", "4", "--batch-size", "2", "--num-steps", "5", "--out", str(ckpt)]) == 0
    assert load_checkpoint(ckpt).vocab.idx_to_token == [UNK, "a", "b"]


@pytest.mark.parametrize("args, message", [
    (["--max-vocab", "50"], "--tokens raw"),
    (["--tokens", "raw", "--max-vocab", "4001"], "from 2 to 4000"),
    (["--tokens", "bytes"], "invalid choice"),
])
def test_cli_refuses_bad_token_options_in_one_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "gru_viz", "train", "--corpus", "offline", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# --- the unit explorer's features on text whose answers are known ---------------------------------------


def test_raw_features_on_a_hand_made_text():
    text = 'Say "hi (a[b])".\n  It\'s 42\'x\'\n中文，对。好'
    f = raw_char_features(text)
    at = {name: dict(enumerate(v)) for name, v in f.items()}
    i = text.index('"')
    assert [at["double quotes"][k] for k in (i - 1, i, i + 3, text.rindex('"'))] == [0, 1, 1, 0]
    assert at["bracket depth"][text.index("b")] == 2 and at["bracket depth"][text.index(")")] == 0
    nl = text.index("\n")
    assert at["position in line"][nl] == 0 and at["position in line"][nl + 1] == 1
    assert at["indentation"][nl + 2] == 2 and at["indentation"][text.index("I")] == 2  # kept along the line
    apostrophe, quote = text.index("'"), text.index("'x")
    assert at["single quotes"][apostrophe] == 0 and at["single quotes"][quote + 1] == 1  # It's is no quote
    assert at["capital"][text.index("S")] == 1 and at["digit"][text.index("4")] == 1
    assert [at["punctuation"][text.index(c)] for c in '".(a'] == [1, 1, 1, 0]
    assert at["chinese punctuation"][text.index("，")] == 1 and at["chinese punctuation"][text.index("中")] == 0
    ends = np.flatnonzero(sentence_ends(text)).tolist()
    assert ends == [text.index("."), text.index("。")]  # '.' before a newline and '。'; never inside a word
    dot = text.index(".")
    assert [at["position in sentence"][k] for k in (dot, dot + 1, dot + 2)] == [dot, 0, 1]
    assert at["position in sentence"][len(text) - 1] == 0  # the character after 。
    assert set(f) == set(RAW_FEATURES)


def test_best_per_feature_finds_planted_units_and_skips_constant_features():
    text = 'x = ("a", [b, {c}])\n' * 20
    f = raw_char_features(text)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(len(text), 6)) * 0.1
    values[:, 2] += f["bracket depth"]
    values[:, 4] -= f["double quotes"]
    best = {m.feature: m for m in best_per_feature(values, text, "raw")}
    assert best["bracket depth"].unit == 2 and best["bracket depth"].r > 0.9
    assert best["double quotes"].unit == 4 and best["double quotes"].r < -0.9
    assert "digit" not in best and "capital" not in best  # no digit or capital letter in the text
    assert rank_units(values, text, top=2, mode="raw")[0].unit in (2, 4)
