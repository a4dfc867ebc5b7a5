"""Greedy and sampled continuation, recorded traces of text, and the perplexity evaluations."""

from __future__ import annotations

import math
import random

import numpy as np
import torch
from torch.nn import functional as F

from gru_viz.data import Vocab, seq_data_iter_sequential
from gru_viz.explain.inference import corpus_perplexity, predict, text_perplexity, trace_text
from gru_viz.nets.model import PRESETS, GRUScratch

VOCAB = Vocab(["<unk>", " ", "a", "b", "c", "d"])


def _model(seed=0):
    g = torch.Generator().manual_seed(seed)
    m = GRUScratch(len(VOCAB), 7, generator=g)
    with torch.no_grad():
        for p in m.params().values():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return m


class _Offset0(random.Random):
    def randint(self, a, b):  # d2l's iterator with its random offset pinned to 0
        return 0


def test_corpus_perplexity_equals_d2l_loop_without_updates():
    m = _model()
    tokens = [random.Random(1).randrange(len(VOCAB)) for _ in range(400)]
    total, count, state = 0.0, 0, None
    m.requires_grad_(False)
    for X, Y in seq_data_iter_sequential(tokens, 4, 5, _Offset0()):
        state = m.begin_state(4) if state is None else state
        logits, state, _ = m(X, state)
        total += float(F.cross_entropy(logits, Y.T.reshape(-1), reduction="sum"))
        count += Y.numel()
    expected = math.exp(total / count)
    assert math.isclose(corpus_perplexity(m, tokens, batch_size=4, num_steps=5), expected, rel_tol=1e-5)
    # all_positions also scores the tail of each row that the iterator drops
    assert corpus_perplexity(m, tokens, 4, 5, all_positions=True) != expected


def test_text_perplexity_matches_a_single_pass():
    m = _model()
    tokens = VOCAB.encode("abcd abcd dcba cab")
    X = torch.tensor([tokens[:-1]])
    with torch.no_grad():
        logits, _, _ = m(X, m.begin_state(1))
    expected = math.exp(float(F.cross_entropy(logits, torch.tensor(tokens[1:]))))
    assert math.isclose(text_perplexity(m, tokens, chunk=4), expected, rel_tol=1e-5)  # chunks carry the state


def test_predict_greedy_is_argmax_after_warmup():
    m = _model()
    out = predict("ab", 5, m, VOCAB)
    assert out.startswith("ab") and len(out) == 7
    # independent greedy decode
    state, ids = m.begin_state(1), VOCAB.encode("ab")
    for t in ids[:-1]:
        _, state, _ = m(torch.tensor([[t]]), state)
    cur = ids[-1]
    for _ in range(5):
        logits, state, _ = m(torch.tensor([[cur]]), state)
        cur = int(logits.argmax())
        ids.append(cur)
    assert out == VOCAB.decode(ids)
    sampled = predict("ab", 30, m, VOCAB, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert len(sampled) == 32 and sampled != predict("ab", 30, m, VOCAB)


def test_forcing_in_generation_uses_absolute_steps():
    m = _model()
    free = predict("ab", 10, m, VOCAB)
    assert predict("ab", 10, m, VOCAB, PRESETS["frozen_memory"]) != free


def test_trace_text_normalises_and_records():
    m = _model()
    tr = trace_text(m, VOCAB, "A, b!\nC?")
    assert tr.text == "a bc" and list(tr.tokens) == VOCAB.encode("a bc")
    assert tr.R.shape == (4, 7) and tr.logits.shape == (4, len(VOCAB))
    np.testing.assert_allclose(tr.probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(tr.H_prev[1:], tr.H[:-1])
    forced = trace_text(m, VOCAB, "abc", PRESETS["plain_rnn"])
    np.testing.assert_array_equal(forced.Z, 0) and np.testing.assert_allclose(forced.H, forced.H_tilde)
    unknown = trace_text(m, Vocab(["<unk>", "a"]), "ab")
    assert list(unknown.tokens) == [1, 0]


def test_a_runs_continuations_start_from_time_traveller_only_on_the_book_in_d2l_tokens():
    """Issue 30 item 7: a run on other text (the offline corpus, own text, raw characters) was continued from
    d2l's "time traveller"; it starts from that text's own first words."""
    from gru_viz.data import OFFLINE_NAME, TM_NAME, make_corpus
    from gru_viz.explain.inference import PREFIX, corpus_prefix

    words = "the quick brown fox jumps over the lazy dog " * 20
    assert corpus_prefix(make_corpus(words, TM_NAME)) == PREFIX
    for corpus in (make_corpus(words, OFFLINE_NAME), make_corpus(words, "mine.txt"),
                   make_corpus(words, TM_NAME, tokens="raw")):
        assert corpus_prefix(corpus) == "the quick brown fox", corpus.name
