"""Entry point for `streamlit run streamlit_app.py` (and Streamlit Community Cloud): set the page, hand over."""

import streamlit as st

# Projector mode shows the settings under a button instead of the sidebar (a projector link opens with the sidebar
# folded, so nothing flashes); elsewhere "auto" folds it on narrow screens (tablets, phones), shows it on wider ones.
_PROJECTOR = st.query_params.get("proj") == "true"
st.set_page_config(page_title="GRU gates, live · d2l", page_icon="🚪", layout="wide",
                   initial_sidebar_state="collapsed" if _PROJECTOR else "auto")

from gru_viz.ui.app import main  # noqa: E402  (set_page_config must come first)

main()
