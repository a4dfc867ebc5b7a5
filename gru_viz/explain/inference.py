"""Using a trained model: d2l's greedy predict_ch8, temperature sampling, recorded traces and perplexity."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from gru_viz.data import TM_NAME, Corpus, Vocab
from gru_viz.nets.model import FREE, Forcing, GRUScratch
from gru_viz.train import perplexity

PREFIX = "time traveller"  # d2l's prefix for continuations (predict_ch8('time traveller', …))


def opening_words(text: str) -> str:
    """Where a continuation of `text` starts: its first words (up to about 24 characters, ended at a space), so a
    model trained on any text is continued from that text, not from d2l's "time traveller"."""
    if len(text) <= 2:
        return text
    head = text[: min(24, len(text) - 1)]
    cut = head.rfind(" ", 6)
    return head[:cut] if cut > 0 and head[:cut].strip() else head[: min(14, len(head))]


def corpus_prefix(corpus: Corpus) -> str:
    """Where a run's continuations start: d2l's "time traveller" on The Time Machine in d2l's tokens, else the
    corpus's own first words (a model of Python's documentation continued from "time traveller" reads nothing)."""
    return PREFIX if corpus.name == TM_NAME and corpus.vocab.mode == "d2l" else opening_words(corpus.text)


@torch.no_grad()
def predict(
    prefix: str,
    num_preds: int,
    model: GRUScratch,
    vocab: Vocab,
    forcing: Forcing = FREE,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
) -> str:
    """d2l's predict_ch8: warm up on the prefix, then emit argmax (temperature 0) or sample at `temperature`."""
    device = model.W_hq.device
    ids = vocab.encode(prefix) or [0]
    state = model.begin_state(1, device)
    outputs = [ids[0]]
    t = 0
    for token in ids[1:]:  # warm-up: feed the prefix, ignore the predictions
        _, state, _ = model(torch.tensor([[outputs[-1]]], device=device), state, forcing, start_step=t)
        outputs.append(token)
        t += 1
    for _ in range(num_preds):
        logits, state, _ = model(torch.tensor([[outputs[-1]]], device=device), state, forcing, start_step=t)
        t += 1
        if temperature <= 0:
            outputs.append(int(logits.argmax(dim=1)))
        else:
            scaled = logits[0].double().cpu()
            scaled[0] = -math.inf  # never sample <unk>: it stands for characters the model cannot write
            # shifted so the largest is 0 before dividing: a tiny (even subnormal) temperature then tends to the
            # argmax instead of overflowing to inf - inf = NaN
            probs = F.softmax((scaled - scaled.max()) / temperature, dim=0)
            outputs.append(int(torch.multinomial(probs, 1, generator=generator)))
    return vocab.decode(outputs)


@dataclass
class TextTrace:
    """A recorded pass over one text: arrays are (steps, hidden) or (steps, vocab), float32 numpy."""

    text: str  # the normalised text; character t is consumed at step t
    tokens: np.ndarray
    R: np.ndarray
    Z: np.ndarray
    H_tilde: np.ndarray
    H: np.ndarray
    H_prev: np.ndarray
    logits: np.ndarray
    forcing: Forcing

    @property
    def probs(self) -> np.ndarray:
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"R": self.R, "Z": self.Z, "H_tilde": self.H_tilde, "H": self.H, "H_prev": self.H_prev,
                "logits": self.logits, "tokens": self.tokens}

    def npz_bytes(self) -> bytes:
        """The trace as a compressed .npz (the CLI's `trace --out` and the app's download): every array and
        the text."""
        buf = io.BytesIO()
        np.savez_compressed(buf, **self.arrays(), text=np.array(self.text))
        return buf.getvalue()


@torch.no_grad()
def trace_text(
    model: GRUScratch, vocab: Vocab, text: str, forcing: Forcing = FREE, normalize: bool = True
) -> TextTrace:
    """Run from a zero state over `text` (normalised as the vocabulary's corpus was; unknown characters -> <unk>),
    recording."""
    norm = vocab.normalize(text) if normalize else text
    if not norm:
        raise ValueError("the text has no letters to trace" if vocab.mode == "d2l" else "the text is empty")
    ids = torch.tensor([vocab.encode(norm)], device=model.W_hq.device)
    # The fast recording forward computes the same numbers (tested against the textbook forward) about 10-30x
    # faster: scrubbing a 1,000-character probe must feel instant.
    from gru_viz.fast import fast_trace

    with torch.no_grad():
        if getattr(model, "convention", "d2l") == "torch":  # nn.GRU's convention: its own recording forward
            tr = model(ids, model.begin_state(1, ids.device), forcing, record=True)[2]
        else:
            tr = fast_trace(model, ids, forcing)
    as_np = {k: getattr(tr, k)[:, 0].float().cpu().numpy() for k in ("R", "Z", "H_tilde", "H", "logits")}
    return TextTrace(text=norm, tokens=ids[0].cpu().numpy(), H_prev=tr.H_prev[:, 0].float().cpu().numpy(),
                     forcing=forcing, **as_np)


@torch.no_grad()
def corpus_perplexity(model: GRUScratch, tokens: list[int], batch_size: int = 32, num_steps: int = 35,
                      forcing: Forcing = FREE, all_positions: bool = False) -> float:
    """Perplexity with fixed weights over the minibatches d2l's sequential iterator yields (offset 0): the
    corpus cut into `batch_size` rows read in parallel, the state carried along each row from zero.

    d2l's iterator drops the last (row length mod num_steps) positions of every row, so training never sees
    them; `all_positions=True` scores those too.
    """
    n = ((len(tokens) - 1) // batch_size) * batch_size
    if n < batch_size:
        raise ValueError(f"need more than {batch_size} tokens")
    device = model.W_hq.device
    data = torch.tensor(tokens, device=device)
    X, Y = data[:n].reshape(batch_size, -1), data[1 : n + 1].reshape(batch_size, -1)
    if not all_positions:
        steps = (X.shape[1] // num_steps) * num_steps
        X, Y = X[:, :steps], Y[:, :steps]
    logits, _, _ = model(X, model.begin_state(batch_size, device), forcing)
    return perplexity(float(F.cross_entropy(logits, Y.T.reshape(-1))))


@torch.no_grad()
def text_perplexity(model: GRUScratch, tokens: list[int], forcing: Forcing = FREE, chunk: int = 1000) -> float:
    """Perplexity of predicting each next token of a stream from a zero state (one sequence, state carried)."""
    if len(tokens) < 2:
        raise ValueError("need at least two tokens")
    device = model.W_hq.device
    state = model.begin_state(1, device)
    data = torch.tensor(tokens, device=device)
    total, count = 0.0, 0
    for start in range(0, len(tokens) - 1, chunk):
        X = data[start : start + chunk][: len(tokens) - 1 - start].unsqueeze(0)
        Y = data[start + 1 : start + 1 + X.shape[1]]
        logits, state, _ = model(X, state, forcing, start_step=start)
        total += float(F.cross_entropy(logits, Y, reduction="sum"))
        count += Y.numel()
    return perplexity(total / count)
