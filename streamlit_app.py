"""Entry point for `streamlit run streamlit_app.py` (and Streamlit Community Cloud). `streamlit run` finds `app`
below and serves it (st.App): imported as a module, this file only starts the server, with the upload bound on
before the first request. Streamlit then runs this same file as the page (as `__main__`): set the page, hand over.
"""

import streamlit as st

if __name__ != "__main__":  # the server's import (st.App mode), not a page run
    from gru_viz.ui.uploads import lifespan

    app = st.App("streamlit_app.py", lifespan=lifespan)
else:
    # Projector mode shows the settings under a button instead of the sidebar (a projector link opens with the
    # sidebar folded, so nothing flashes); elsewhere "auto" folds it on narrow screens, shows it on wider ones.
    _PROJECTOR = st.query_params.get("proj") == "true"
    st.set_page_config(page_title="GRU gates, live · d2l", page_icon="🚪", layout="wide",
                       initial_sidebar_state="collapsed" if _PROJECTOR else "auto")

    from gru_viz.ui.app import main  # set_page_config must come first

    main()
