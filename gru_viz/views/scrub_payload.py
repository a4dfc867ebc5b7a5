"""A recorded trace as the browser scrubber receives it: one JSON-able dict with quantised, base64 arrays.

Every value is sent as an unsigned 16-bit integer on a fixed range (gates on [0, 1], states on [-1, 1]), so the
error is at most (hi - lo) / (2 * 65535): 7.6e-6 for gates, 1.5e-5 for states. Gates would fit in 8 bits
(error 1/510), but then the equation the scrubber writes out with three decimals would not add up.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import numpy as np

from gru_viz.data import visible_char
from gru_viz.explain.attribution import LOG_RANGE, TARGET, dequantize_log, quantize_log, triangle
from gru_viz.explain.inference import TextTrace
from gru_viz.nets.model import Forcing, GateForce

# The browser's data contract (ui/scrubber/scrub_util.js GV_CONTRACT): this payload, ②'s component data
# (live_force.force_data) and the setting ② sends back carry it; either side refuses another version.
VERSION = 1
BITS = 16
TOP_K = 5
GATE_RANGE = (0.0, 1.0)  # sigmoid outputs, and every forced value (GateForce checks [0, 1])
STATE_RANGE = (-1.0, 1.0)  # tanh outputs and their convex mixtures, from a zero state


def max_error(lo: float, hi: float, bits: int = BITS) -> float:
    """The largest difference between a value in [lo, hi] and its quantised form: half a quantisation step."""
    return (hi - lo) / (2 * (2**bits - 1))


def quantize(x: np.ndarray, lo: float, hi: float, bits: int = BITS) -> np.ndarray:
    """Values on [lo, hi] as integers 0 … 2^bits − 1 (rounded to the nearest level; outliers clipped)."""
    levels = 2**bits - 1
    scaled = (np.asarray(x, dtype=np.float64) - lo) / (hi - lo) * levels
    return np.clip(np.rint(scaled), 0, levels).astype(np.uint16 if bits > 8 else np.uint8)


def dequantize(q: np.ndarray, lo: float, hi: float, bits: int = BITS) -> np.ndarray:
    """What the browser computes from the integers: lo + q · (hi − lo) / (2^bits − 1)."""
    return lo + np.asarray(q, dtype=np.float64) * ((hi - lo) / (2**bits - 1))


def encode(q: np.ndarray) -> str:
    """Little-endian bytes as base64 (JavaScript reads them into a Uint16Array or Uint8Array)."""
    return base64.b64encode(np.ascontiguousarray(q, dtype=q.dtype.newbyteorder("<")).tobytes()).decode("ascii")


def decode(text: str, bits: int = BITS) -> np.ndarray:
    """The inverse of `encode`, for tests and for reading a payload back."""
    return np.frombuffer(base64.b64decode(text), dtype="<u2" if bits > 8 else "u1")


def forcing_data(forcing: Forcing) -> dict:
    """Which gate is forced where, as the browser checks it per step and unit: {"R": …, "Z": …}, each None (free)
    or {"value", "units" (None: all), "steps" ([start, stop) or None: all)}, and the "strength" that blends them."""
    def one(g: GateForce) -> dict | None:
        if not g.active:
            return None
        return {"value": float(g.value), "units": None if g.units is None else [int(u) for u in g.units],
                "steps": None if g.steps is None else [int(g.steps[0]), int(g.steps[1])]}
    return {"R": one(forcing.reset), "Z": one(forcing.update), "strength": float(forcing.strength)}


def attribution_data(shown: np.ndarray, free: np.ndarray | None = None) -> dict:
    """Attribution matrices (attribution.attribution: T × T, lower triangle) of the trace's model and, when it is
    forced, of the free model: lower triangles as 16-bit log-scale integers."""
    return {"target": TARGET, "log_range": list(LOG_RANGE), "shown": encode(quantize_log(triangle(shown))),
            "free": None if free is None else encode(quantize_log(triangle(free)))}


def scrub_payload(trace: TextTrace, tokens: Sequence[str], units: Sequence[int] | None = None,
                  attribution: dict | None = None) -> dict:
    """The trace of one probe for the browser: the text and, for the hidden units `units` (all when None), R_t,
    Z_t, H̃_t and H_t at every step, the state before the first step, the TOP_K next characters per step, the
    forcing, and `attribution` (attribution_data's dict, or None when not computed).

    Arrays are step-major (value of row i at step t at index t · len(units) + i), which is how the scrubber reads
    them per step; H_{t−1} is H of the step before (the initial state at t = 0), so it is not sent twice.
    """
    rows = np.arange(trace.H.shape[1]) if units is None else np.asarray(list(units), dtype=np.int64)
    if rows.size == 0 or rows.min() < 0 or rows.max() >= trace.H.shape[1]:
        raise ValueError(f"units must lie in 0-{trace.H.shape[1] - 1}")
    probs = trace.probs
    top = np.argsort(-probs, axis=1, kind="stable")[:, :TOP_K]
    arrays = {
        "R": quantize(trace.R[:, rows], *GATE_RANGE),
        "Z": quantize(trace.Z[:, rows], *GATE_RANGE),
        "H_tilde": quantize(trace.H_tilde[:, rows], *STATE_RANGE),
        "H": quantize(trace.H[:, rows], *STATE_RANGE),
        "H0": quantize(trace.H_prev[0, rows], *STATE_RANGE),
        "top_p": quantize(np.take_along_axis(probs, top, axis=1), 0.0, 1.0),
        "top_idx": top.astype(np.uint16),
    }
    encoded = {name: encode(q) for name, q in arrays.items()}
    digest = hashlib.sha1(trace.text.encode("utf-8"))  # noqa: S324 (an identity for caches, not security)
    for name in sorted(encoded):
        digest.update(encoded[name].encode("ascii"))
    digest.update(",".join(map(str, rows.tolist())).encode("ascii"))
    for key in ("shown", "free"):
        digest.update(str((attribution or {}).get(key)).encode("ascii"))
    return {
        "version": VERSION,
        "id": digest.hexdigest()[:16],
        "text": trace.text,
        "steps": int(trace.H.shape[0]),
        "hidden": int(trace.H.shape[1]),
        "units": [int(u) for u in rows],
        "bits": BITS,
        "ranges": {"gate": list(GATE_RANGE), "state": list(STATE_RANGE), "prob": [0.0, 1.0]},
        "top_k": TOP_K,
        "tokens": list(tokens),
        # how the browser draws the characters that would not show (↵ ⇥ ␣…): data.visible_char's one mapping
        "visible": {ch: visible_char(ch) for ch in sorted(set(trace.text) | set(tokens)) if visible_char(ch) != ch},
        "forced": bool(trace.forcing.active),
        "forcing": forcing_data(trace.forcing),
        "attribution": attribution,
        **encoded,
    }


def read_payload(payload: dict) -> dict[str, np.ndarray]:
    """The arrays of a payload, dequantised and reshaped to (steps, units) as the browser sees them."""
    steps, n = payload["steps"], len(payload["units"])
    (glo, ghi), (slo, shi) = payload["ranges"]["gate"], payload["ranges"]["state"]
    out = {name: dequantize(decode(payload[name]), glo, ghi).reshape(steps, n) for name in ("R", "Z")}
    out.update({name: dequantize(decode(payload[name]), slo, shi).reshape(steps, n) for name in ("H_tilde", "H")})
    h0 = dequantize(decode(payload["H0"]), slo, shi)
    out["H_prev"] = np.vstack([h0[None, :], out["H"][:-1]])
    out["top_p"] = dequantize(decode(payload["top_p"]), 0.0, 1.0).reshape(steps, payload["top_k"])
    out["top_idx"] = decode(payload["top_idx"]).reshape(steps, payload["top_k"]).astype(np.int64)
    att = payload.get("attribution")
    for key in ("shown", "free"):
        if att and att.get(key):
            A = np.zeros((steps, steps))
            A[np.tril_indices(steps)] = dequantize_log(decode(att[key]), *att["log_range"])
            out[f"attribution_{key}"] = A
    return out
