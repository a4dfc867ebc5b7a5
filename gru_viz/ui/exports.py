"""Downloads of what the page shows: the model as a checkpoint, the trace as CSV and NPZ."""

from __future__ import annotations

import io

import streamlit as st

from gru_viz.checkpoint import checkpoint_bytes
from gru_viz.inference import TextTrace
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
        st.caption(view.t("dl_figures"))
