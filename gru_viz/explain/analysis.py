"""Why gates matter, computed: gradient flow through time, memory survival, unit-feature correlations,
and the PyTorch (nn.GRU) convention of the same cell. Pure NumPy/PyTorch, no UI.
"""

from __future__ import annotations

import copy
import unicodedata
from dataclasses import dataclass

import numpy as np
import torch

from gru_viz.nets.backward import check_target, loss_gradient, norms_back
from gru_viz.nets.model import FREE, Forcing, ForcingError, GRUScratch
from gru_viz.nets.rnn import RNNScratch, arch_of


@torch.no_grad()
def gradient_flow(model: GRUScratch, tokens: list[int], target: int, forcing: Forcing = FREE) -> np.ndarray:
    """‖∂loss_t/∂H_{t'}‖ for every t' ≤ t, by a hand-written backward through the GRU step.

    loss_t is the cross-entropy of predicting tokens[t+1] from H_t. Returns a vector of length t+1 (index t').
    Written out (not autograd) so the chain rule through Z, R and H̃ is visible; tests check it against autograd.
    """
    if getattr(model, "convention", "d2l") == "torch":  # nn.GRU's cell: the reset gate after the product
        from gru_viz.nets.concise import gradient_flow_torch

        return gradient_flow_torch(model, tokens, target, forcing)
    check_target(tokens, target)
    m = copy.deepcopy(model).double().cpu()  # a private float64 copy: shared models are never mutated
    p = m.params()
    ids = torch.tensor(tokens[: target + 1])
    _, _, tr = m(ids.unsqueeze(0), m.begin_state(1), forcing, record=True)
    Z, R, Ht, H = (getattr(tr, k)[:, 0] for k in ("Z", "R", "H_tilde", "H"))  # (t+1, hidden)
    H_prev = tr.H_prev[:, 0]
    Zf, Rf = Z, R
    if forcing.active and not forcing.full:  # σ' belongs to the free gate: a blend's slope is (1 − s)·σ'(a)
        Zf = torch.sigmoid(p["W_xz"][ids] + H_prev @ p["W_hz"] + p["b_z"])
        Rf = torch.sigmoid(p["W_xr"][ids] + H_prev @ p["W_hr"] + p["b_r"])
    hidden, s = Z.shape[1], forcing.strength

    def back(g: torch.Tensor, t: int) -> torch.Tensor:  # dloss/dH_t -> dloss/dH_{t−1}
        z_free = forcing.update.free_share(t, hidden, s)
        r_free = forcing.reset.free_share(t, hidden, s)
        d_z = g * (H_prev[t] - Ht[t]) * Zf[t] * (1 - Zf[t]) * z_free  # through σ; a forced gate is a constant
        d_ah = g * (1 - Z[t]) * (1 - Ht[t] ** 2)  # through tanh
        d_rh = d_ah @ p["W_hh"].T  # gradient of (R⊙H_{t−1})
        d_r = d_rh * H_prev[t] * Rf[t] * (1 - Rf[t]) * r_free
        return g * Z[t] + d_rh * R[t] + d_r @ p["W_hr"].T + d_z @ p["W_hz"].T

    # dloss/dH_t through the output layer: (softmax − onehot) W_hqᵀ
    return norms_back(loss_gradient(H[target], p["W_hq"], p["b_q"], tokens[target + 1]), target, back)


@torch.no_grad()
def gradient_flow_rnn(model: RNNScratch, tokens: list[int], target: int) -> np.ndarray:
    """‖∂loss_t/∂H_{t'}‖ for d2l's plain RNN, by hand: H_t = tanh(A_t), so
    ∂loss/∂H_{t−1} = (∂loss/∂H_t ⊙ (1 − H_t²)) W_hhᵀ. Same conventions as gradient_flow."""
    check_target(tokens, target)
    m = copy.deepcopy(model).double().cpu()
    _, _, tr = m(torch.tensor(tokens[: target + 1]).unsqueeze(0), m.begin_state(1), record=True)
    H = tr.H[:, 0]
    g = loss_gradient(H[target], m.W_hq, m.b_q, tokens[target + 1])
    return norms_back(g, target, lambda g, t: (g * (1 - H[t] ** 2)) @ m.W_hh.T)


def gradient_flow_any(model: GRUScratch | RNNScratch, tokens: list[int], target: int,
                      forcing: Forcing = FREE) -> np.ndarray:
    """gradient_flow for a GRU (with any forcing), gradient_flow_rnn for a plain RNN (which has no gates)."""
    if arch_of(model) == "rnn":
        if forcing.active:
            raise ForcingError("a plain RNN has no reset or update gate to force")
        return gradient_flow_rnn(model, tokens, target)
    return gradient_flow(model, tokens, target, forcing)


@dataclass
class FlowSummary:
    """Where a gradient-flow curve starts and ends: at t' = target, at t' = 0, and its extremes."""

    at_target: float
    at_start: float
    ratio: float  # at_start / at_target: < 1 the gradient shrinks going back in time, > 1 it grows
    low: float
    high: float


def summarize_flow(norms: np.ndarray) -> FlowSummary:
    at_target, at_start = float(norms[-1]), float(norms[0])
    ratio = at_start / at_target if at_target > 0 else float("inf")
    return FlowSummary(at_target, at_start, ratio, float(norms.min()), float(norms.max()))


def survival_at(survival: np.ndarray, distances: tuple[int, ...] = (10, 30, 60)) -> dict[int, dict[str, float]]:
    """Mean, 10 %, median, 90 % and maximum over units of ∏Z at each distance t − t' ≤ t (rows of
    memory_survival's result), and the share of units keeping more than 1 %. The mean is pulled up by a few units."""
    target = survival.shape[0] - 1
    out = {}
    for d in distances:
        if d <= target:
            row = survival[target - d]
            p10, p50, p90 = np.percentile(row, [10, 50, 90])
            out[d] = {"mean": float(row.mean()), "p10": float(p10), "median": float(p50), "p90": float(p90),
                      "max": float(row.max()), "above_1pct": float((row > 0.01).mean())}
    return out


def memory_survival(Z: np.ndarray, target: int) -> np.ndarray:
    """S[t', u] = ∏_{k=t'+1}^{t} Z_k[u]: the share of H_{t'} that reaches H_t along the update gate's copy path.

    Z is (steps, hidden); returns (target+1, hidden), with S[target] = 1.
    """
    z = Z[1 : target + 1][::-1]
    tail = np.cumprod(z, axis=0)[::-1]  # tail[k] = ∏_{j=k+1}^{target} Z_j
    return np.vstack([tail, np.ones((1, Z.shape[1]), dtype=Z.dtype)])


FEATURES = ("space", "vowel", "word start", "word end", "position in word")


def char_features(text: str) -> dict[str, np.ndarray]:
    """Simple per-character features of a normalised text (letters and single spaces)."""
    n = len(text)
    space = np.array([c == " " for c in text], dtype=float)
    vowel = np.array([c in "aeiou" for c in text], dtype=float)
    start = np.array([c != " " and (i == 0 or text[i - 1] == " ") for i, c in enumerate(text)], dtype=float)
    end = np.array([c != " " and (i == n - 1 or text[i + 1] == " ") for i, c in enumerate(text)], dtype=float)
    pos, k = np.zeros(n), 0
    for i, c in enumerate(text):
        k = 0 if c == " " else k + 1
        pos[i] = k
    return dict(zip(FEATURES, (space, vowel, start, end, pos), strict=True))


# Raw text (every character kept): the features of Karpathy, Johnson and Fei-Fei's "Visualizing and Understanding
# Recurrent Networks" (2015), and two for Chinese. Each is the state after reading character t, as H_t is.
RAW_FEATURES = ("double quotes", "single quotes", "bracket depth", "position in line", "indentation", "capital",
                "digit", "punctuation", "sentence end", "chinese punctuation", "position in sentence")
OPEN_BRACKETS, CLOSE_BRACKETS = "([{（【", ")]}）】"
# full-width forms only: curly quotes, dashes and ellipses are Chinese punctuation too, but English uses them as well
CJK_PUNCTUATION = set("，。、；：？！（）《》〈〉【】「」『』〔〕～")
SENTENCE_ENDS, CJK_SENTENCE_ENDS = ".!?", "。！？"


def _is_cjk_punctuation(ch: str) -> bool:
    """Chinese (full-width) punctuation: the list above, the CJK Symbols block, full-width forms' punctuation."""
    code = ord(ch)
    return ch in CJK_PUNCTUATION or (0x3000 < code <= 0x303F) or (
        0xFF00 <= code <= 0xFFEF and unicodedata.category(ch).startswith("P"))


def sentence_ends(text: str) -> np.ndarray:
    """1 at a character that ends a sentence: 。！？ always, . ! ? before whitespace or at the end (so the dots
    of os.path or 3.14 do not count)."""
    n = len(text)
    return np.array([c in CJK_SENTENCE_ENDS or (c in SENTENCE_ENDS and (i == n - 1 or text[i + 1].isspace()))
                     for i, c in enumerate(text)], dtype=float)


def raw_char_features(text: str) -> dict[str, np.ndarray]:
    """RAW_FEATURES of a raw text, one value per character:

    double quotes: 1 inside "…" (a straight quote toggles, counted from the text's start) or “…” / 「…」;
    single quotes: 1 inside '…' or ‘…’ (a ' or ’ between two letters is an apostrophe; a newline closes it);
    bracket depth: how many of ( [ { are open (never below 0); position in line: characters since the newline;
    indentation: the current line's leading spaces read so far (a tab counts 4); capital, digit, punctuation
    (Unicode category P): the character itself; sentence end: `sentence_ends`; chinese punctuation:
    full-width punctuation; position in sentence: characters since the last sentence end.
    """
    n = len(text)
    out = {name: np.zeros(n) for name in RAW_FEATURES}
    ends = sentence_ends(text)
    dq = sq = False
    depth = col = indent = since_end = 0
    leading = True
    for i, c in enumerate(text):
        if c == '"':
            dq = not dq
        elif c in "“「":
            dq = True
        elif c in "”」":
            dq = False
        between_letters = 0 < i < n - 1 and text[i - 1].isalpha() and text[i + 1].isalpha()
        if c == "'" and not between_letters:  # It's, don't: an apostrophe
            sq = not sq
        elif c == "‘":
            sq = True
        elif c == "’" and not between_letters:
            sq = False
        if c in OPEN_BRACKETS:
            depth += 1
        elif c in CLOSE_BRACKETS:
            depth = max(0, depth - 1)
        if c == "\n":
            sq, col, indent, leading = False, 0, 0, True
        else:
            col += 1
            if leading and c in " \t":
                indent += 4 if c == "\t" else 1
            else:
                leading = False
        values = (dq, sq, depth, col, indent, c.isupper(), c.isdigit(), unicodedata.category(c).startswith("P"),
                  ends[i], _is_cjk_punctuation(c), since_end)
        for name, v in zip(RAW_FEATURES, values, strict=True):
            out[name][i] = float(v)
        since_end = 0 if ends[i] else since_end + 1
    return out


def features_for(text: str, mode: str = "d2l") -> dict[str, np.ndarray]:
    """The unit explorer's features for a text of a vocabulary's tokenisation ("d2l" or "raw")."""
    return raw_char_features(text) if mode == "raw" else char_features(text)


@dataclass
class UnitMatch:
    unit: int
    feature: str
    r: float


def correlations(values: np.ndarray, feats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pearson r of every unit's activation (steps × hidden) with each feature; 0 where either is constant."""
    v = values - values.mean(axis=0)
    v_norm = np.sqrt((v**2).sum(axis=0))
    out = {}
    for name, f in feats.items():
        fc = f - f.mean()
        denom = v_norm * np.sqrt((fc**2).sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(denom > 0, (fc @ v) / np.where(denom > 0, denom, 1.0), 0.0)
    return out


def rank_units(values: np.ndarray, text: str, top: int = 10, mode: str = "d2l") -> list[UnitMatch]:
    """Units whose activation (steps × hidden) best correlates (|Pearson r|) with a character feature."""
    out = [UnitMatch(int(u), name, float(r[u])) for name, r in correlations(values, features_for(text, mode)).items()
           for u in range(values.shape[1])]
    out.sort(key=lambda m: -abs(m.r))
    seen, best = set(), []
    for m in out:  # each unit once, at its best feature
        if m.unit not in seen:
            seen.add(m.unit)
            best.append(m)
        if len(best) == top:
            break
    return best


def best_per_feature(values: np.ndarray, text: str, mode: str = "d2l") -> list[UnitMatch]:
    """For every feature the unit with the largest |r| (a unit may be best for two), strongest first; features
    that are constant over the text (no digit in it, say) are left out: no unit can track them there."""
    feats = features_for(text, mode)
    out = [UnitMatch(int(np.argmax(np.abs(r))), name, float(r[np.argmax(np.abs(r))]))
           for name, r in correlations(values, feats).items() if np.ptp(feats[name]) > 0]
    return sorted(out, key=lambda m: -abs(m.r))


class TorchConventionGRU(torch.nn.Module):
    """The same cell in PyTorch's nn.GRU convention: the reset gate acts after the recurrent matmul,
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), and h' = (1 − z) ⊙ n + z ⊙ h.

    Parameters use nn.GRU's layout (rows r, z, n), so `load_from(nn.GRU)` reproduces it exactly.
    """

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__()
        self.vocab_size, self.hidden = vocab_size, hidden
        self.weight_ih = torch.nn.Parameter(torch.zeros(3 * hidden, vocab_size))
        self.weight_hh = torch.nn.Parameter(torch.zeros(3 * hidden, hidden))
        self.bias_ih = torch.nn.Parameter(torch.zeros(3 * hidden))
        self.bias_hh = torch.nn.Parameter(torch.zeros(3 * hidden))

    @torch.no_grad()
    def load_from(self, gru: torch.nn.GRU) -> TorchConventionGRU:
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(self, name).copy_(getattr(gru, f"{name}_l0"))
        return self

    def forward(self, inputs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (steps, batch, vocab) as nn.GRU takes them; returns (outputs (steps, batch, hidden), h)."""
        outs = []
        w_ir, w_iz, w_in = self.weight_ih.chunk(3)
        w_hr, w_hz, w_hn = self.weight_hh.chunk(3)
        b_ir, b_iz, b_in = self.bias_ih.chunk(3)
        b_hr, b_hz, b_hn = self.bias_hh.chunk(3)
        for x in inputs:
            reset = torch.sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
            update = torch.sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
            candidate = torch.tanh(x @ w_in.T + b_in + reset * (h @ w_hn.T + b_hn))  # reset after the matmul
            h = (1 - update) * candidate + update * h
            outs.append(h)
        return torch.stack(outs), h

