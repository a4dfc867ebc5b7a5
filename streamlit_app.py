"""Entry point for `streamlit run streamlit_app.py` (and Streamlit Community Cloud): set the page, hand over."""

import streamlit as st

st.set_page_config(page_title="GRU gates, live · d2l", page_icon="🚪", layout="wide",
                   initial_sidebar_state="expanded")

from gru_viz.ui.app import main  # noqa: E402  (set_page_config must come first)

main()
