"""Downloads of what the page shows: the model as a checkpoint, the trace as CSV and NPZ."""

from __future__ import annotations

import io

import streamlit as st

from gru_viz.checkpoints.checkpoint import checkpoint_bytes
from gru_viz.explain.inference import TextTrace
from gru_viz.ui.actions import Inspected
from gru_viz.ui.view import View


def trace_csv(trace: TextTrace) -> bytes:
    """One row per (step, unit): the character, R, Z, H̃, H and H_{t−1}; tidy for spreadsheets and pandas."""
    steps, hidden = trace.H.shape
    out = io.StringIO()
    out.write("step,char,unit,R,Z,H_tilde,H,H_prev\n")
    for t in range(steps):
        ch = trace.text[t].replace('"', '""')
        for u in range(hidden):
            out.write(f'{t},"{ch}",{u},{trace.R[t, u]:.6g},{trace.Z[t, u]:.6g},{trace.H_tilde[t, u]:.6g},'
                      f"{trace.H[t, u]:.6g},{trace.H_prev[t, u]:.6g}\n")
    return out.getvalue().encode("utf-8")


def downloads(view: View, inspected: Inspected, trace: TextTrace) -> None:
    model, vocab, name = inspected.model, inspected.vocab, inspected.name
    with st.expander(view.t("exports")):
        c = st.columns(3)
        c[0].download_button(view.t("dl_ckpt"), data=lambda: checkpoint_bytes(model, vocab, {"source": name}),
                             file_name=f"{name}.safetensors", mime="application/octet-stream", key="dl_ckpt",
                             on_click="ignore")
        c[1].download_button(view.t("dl_csv"), data=lambda: trace_csv(trace), file_name=f"{name}_trace.csv",
                             mime="text/csv", key="dl_csv", on_click="ignore")
        c[2].download_button(view.t("dl_npz"), data=trace.npz_bytes, file_name=f"{name}_trace.npz",
                             mime="application/octet-stream", key="dl_npz", on_click="ignore")
        _notebook_downloads(view, inspected)  # no "camera icon" line: the charts have no toolbar (View.chart_config)


def _notebook_downloads(view: View, inspected: Inspected) -> None:
    """A GRU over d2l's 28 characters, as a file for each edition's notebook: its names and its vocabulary order
    (d2l 1.0's alphabetical one permuted back), built only when a button is pressed."""
    from gru_viz.checkpoints.checkpoint import Checkpoint
    from gru_viz.checkpoints.notebook import EDITIONS, SEED_ORDER, notebook_bytes

    model, vocab, name = inspected.model, inspected.vocab, inspected.name
    if getattr(model, "arch", "gru") == "rnn" or sorted(vocab.idx_to_token) != sorted(SEED_ORDER):
        return
    cols = st.columns(len(EDITIONS))
    for col, edition in zip(cols, EDITIONS, strict=True):
        col.download_button(view.t(f"dl_nb_{edition}"), file_name=f"{name}_{edition}.safetensors",
                            data=lambda e=edition: notebook_bytes(Checkpoint(model, vocab), e),
                            mime="application/octet-stream", key=f"dl_nb_{edition}", on_click="ignore",
                            help=view.t("dl_nb_help"))
