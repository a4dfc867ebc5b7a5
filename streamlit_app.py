"""Entry point for `streamlit run streamlit_app.py` (and Streamlit Community Cloud): set the page, hand over."""

import streamlit as st

# A projector link opens with the sidebar folded away (its arrow brings the settings back); elsewhere "auto"
# folds it on narrow screens (tablets, phones) and shows it on wider ones.
_PROJECTOR = st.query_params.get("proj") == "true"
st.set_page_config(page_title="GRU gates, live · d2l", page_icon="🚪", layout="wide",
                   initial_sidebar_state="collapsed" if _PROJECTOR else "auto")

from gru_viz.ui.app import main  # noqa: E402  (set_page_config must come first)

main()
