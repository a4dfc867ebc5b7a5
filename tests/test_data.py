"""Preprocessing, vocabulary, corpus sources and d2l's iterators, on hand-computed cases."""

from __future__ import annotations

import random

import pytest
import torch

from gru_viz import data
from gru_viz.data import CorpusError, Vocab, make_corpus, preprocess


def test_preprocess_like_read_time_machine():
    raw = "The Time Machine, by H. G. Wells [1898]\n\n\nI\n  It's 3 o'clock!  \nend"
    # per line: non-letter runs -> one space, strip, lower; lines joined with no separator
    assert preprocess(raw) == "the time machine by h g wells" + "i" + "it s o clock" + "end"


def test_vocab_sorted_by_frequency_ties_first_seen():
    v = Vocab.build("abcbcc")
    assert v.idx_to_token == ["<unk>", "c", "b", "a"]
    assert v.encode("cab?") == [1, 3, 2, 0]
    assert v.decode([1, 3, 0]) == "ca<unk>"
    tie = Vocab.build("xyyxz")  # x and y both twice: x was seen first
    assert tie.idx_to_token == ["<unk>", "x", "y", "z"]


def test_timemachine_matches_d2l(tm_corpus):
    c = tm_corpus
    assert len(c.vocab) == 28
    assert c.vocab.idx_to_token[:6] == ["<unk>", " ", "e", "t", "a", "i"]
    assert len(c.tokens) == 10_000
    assert c.vocab.decode(c.tokens[:29]) == "the time machine by h g wells"
    assert len(c.text) == 170_580  # d2l reports 170580 tokens for the full book


def test_max_tokens_zero_keeps_all():
    c = make_corpus("hello world\n" * 5, "t", max_tokens=0)
    assert len(c.tokens) == len(c.text) == 5 * len("hello world")


def test_no_letters_is_an_error():
    with pytest.raises(CorpusError, match="no letters"):
        make_corpus("1234 !!! 你好", "digits")


def test_sequential_iterator_semantics():
    corpus = list(range(35))
    rng = random.Random(3)
    offset = random.Random(3).randint(0, 5)
    got = list(data.seq_data_iter_sequential(corpus, 2, 5, rng))
    n = ((35 - offset - 1) // 2) * 2
    xs = torch.tensor(corpus[offset : offset + n]).reshape(2, -1)
    assert len(got) == xs.shape[1] // 5
    for i, (X, Y) in enumerate(got):
        assert X.shape == Y.shape == (2, 5)
        assert torch.equal(X, xs[:, i * 5 : (i + 1) * 5])
        assert torch.equal(Y, X + 1)  # labels are the next token
    # consecutive minibatches continue each row: the state can be carried
    for (X1, _), (X2, _) in zip(got, got[1:]):
        assert torch.equal(X2[:, 0], X1[:, -1] + 1)


def test_random_iterator_semantics():
    corpus = list(range(100))
    got = list(data.seq_data_iter_random(corpus, 3, 5, random.Random(0)))
    starts = [int(x) for X, _ in got for x in X[:, 0]]
    offset = random.Random(0).randint(0, 4)
    assert len(got) == ((100 - offset - 1) // 5) // 3
    assert len(set(starts)) == len(starts)  # non-overlapping subsequences
    for X, Y in got:
        assert X.shape == (3, 5)
        assert torch.equal(Y, X + 1)
        assert torch.equal(X[:, 1:] - X[:, :-1], torch.ones(3, 4, dtype=X.dtype))
    offsets = {s % 5 for s in starts}
    assert len(offsets) == 1  # one random offset per epoch, then a grid of num_steps


def test_too_short_corpus_refused_with_needed_length():
    need = data.min_corpus_tokens(4, 5)
    assert need == 4 * 5 + 5 + 1
    for random_iter in (False, True):
        # at the bound, every random offset still yields a minibatch
        for seed in range(20):
            assert list(data.batches(list(range(need)), 4, 5, random_iter, random.Random(seed)))
        with pytest.raises(CorpusError, match=str(need)):
            data.batches(list(range(need - 1)), 4, 5, random_iter, random.Random(0))


def test_offline_corpus_is_english_and_needs_no_file():
    c = data.load_corpus("offline")
    assert "Python" in c.name
    assert len(c.tokens) == 10_000
    assert " the " in c.text[:20_000]


def test_local_file_and_bad_files(tmp_path):
    good = tmp_path / "t.txt"
    good.write_text("Hello there, world!\n" * 100, encoding="utf-8")
    assert data.load_corpus(str(good)).text.startswith("hello there world")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\x00\x01\x02abc")
    with pytest.raises(CorpusError, match="binary"):
        data.load_corpus(str(binary))
    latin = tmp_path / "l.txt"
    latin.write_bytes("caf\xe9 ol\xe9".encode("latin-1"))
    with pytest.raises(CorpusError, match="UTF-8"):
        data.load_corpus(str(latin))
    with pytest.raises(CorpusError, match="no such file"):
        data.load_corpus(str(tmp_path / "missing.txt"))


SAMPLE = "Time Traveller — “quoted”, naïve\n" * 20


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_utf16_and_utf32_text_is_decoded_not_called_binary(encoding):
    # "utf-16" and "utf-32" write a byte-order mark; "-le"/"-be" do not (the case that was called binary)
    assert data.decode_text(SAMPLE.encode(encoding), "t.txt") == SAMPLE


def test_broken_utf16_is_named_as_utf16():
    raw = "\ufeffhello".encode("utf-16-le") + b"\x00\xd8"  # a lone high surrogate at the end
    with pytest.raises(CorpusError, match="looks like UTF-16 text, but byte"):
        data.decode_text(raw, "t.txt")


def test_binary_is_still_binary():
    with pytest.raises(CorpusError, match="binary"):
        data.decode_text(bytes(range(256)) * 4, "b.bin")


def test_empty_corpus_source_says_what_is_wrong():
    with pytest.raises(CorpusError, match="no corpus given: use timemachine, offline"):
        data.load_corpus("")
    with pytest.raises(CorpusError, match="no corpus given"):
        data.load_corpus("   ")


def test_files_are_read_only_up_to_their_cap(tmp_path):
    with pytest.raises(CorpusError, match="/dev/zero: is a device, not a regular file"):
        data.load_corpus("/dev/zero")  # endless, and a device: refused before any read
    sparse = tmp_path / "sparse.txt"
    with open(sparse, "wb") as f:
        f.truncate(100 * 2**30)  # 100 GB that take no disk
    with pytest.raises(CorpusError, match="limit"):
        data.read_text_file(sparse)
    small = tmp_path / "small.txt"
    small.write_bytes(b"x" * 101)
    with pytest.raises(CorpusError, match="101 bytes|100 bytes limit"):
        data.read_capped(small, 100)
    assert data.read_capped(small, 101) == b"x" * 101
    with pytest.raises(CorpusError, match="is a directory"):
        data.load_corpus(str(tmp_path))
    with pytest.raises(CorpusError, match="no file given"):
        data.read_capped("", 10)


def test_size_labels():
    assert data.size_label(64 * 2**20) == "64 MiB"
    assert data.size_label(20_000_000) == "20 MB"
    assert data.size_label(1_500) == "1,500 bytes"
