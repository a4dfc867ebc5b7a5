"""Streamlit entry point: the app itself is being built in gru_viz.ui."""

import streamlit as st

st.set_page_config(page_title="GRU gates, live", layout="wide")
st.title("GRU gates, live")
st.write("The engine is ready: `python -m gru_viz train`. The interactive app comes next.")
