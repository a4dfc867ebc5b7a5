"""The page: the sidebar's settings, the model chooser, and the tabs (gru_viz/ui/tabs) of which only the open one
is drawn.

Tabs are leaves: each is render(ctx) with one PageContext built here (the view, the inspected model, the probe,
the forcing, the training settings) and imports no other tab.
"""

from __future__ import annotations

import streamlit as st
import torch

from gru_viz.ui import class_panel, page_state, session_kept, uploads
from gru_viz.ui.actions import Training, model_options, resolve_model
from gru_viz.ui.chrome import error_boundary, header_controls, page_tabs, refused_link_settings, share_box
from gru_viz.ui.context import PageContext
from gru_viz.ui.sidebar import sidebar
from gru_viz.ui.state import init_session
from gru_viz.ui.tabs import TABS, train


def main() -> None:
    uploads.install()  # first: the upload route's bounds (installed once), and expired sessions' files dropped
    # Inference here is batch 1 with tiny matmuls: one thread is fastest, and it never stalls behind busy cores.
    torch.set_num_threads(1)
    refused = page_state.init({"tab": tuple(TABS)})
    init_session()
    view, chooser_box, settings_box = header_controls()
    refused_link_settings(view, refused)
    # Before the tabs: their class hooks read the class it finds. On a projector, joining or starting a class sits
    # with the settings, so the charts keep the first screen; a class in progress shows its code under the title.
    class_box = settings_box if view.projector and not page_state.get("class") else st.container()
    with class_box, error_boundary(view, "class"):
        class_panel.class_bar(view)
    status_box = settings_box.container()  # a run's status goes first in the settings (on the other tabs)
    training = Training(None, None, "")
    with settings_box, error_boundary(view, "settings"):
        training = sidebar(view)
    if not view.projector:
        st.markdown(view.t("subtitle"))

    options = model_options(view)
    inspected = None
    if options:
        # a key that is not here (a run that was reset, another visitor's link) falls back to the default
        page_state.settle("inspect", list(options))
        key = page_state.widget((chooser_box or st).selectbox, view.t("inspect"), "inspect", list(options),
                                lang=view.lang, labels=options.values(),  # a run's latest epoch moves on
                                format_func=options.get,
                                label_visibility="collapsed" if view.projector else "visible")
        inspected = resolve_model(str(key))
    session_kept.say_dropped_results(view, page_state.get("_lru"))  # freed to make room: said once
    ctx = PageContext(view, training, inspected)
    # Only the open tab is drawn (see page_tabs); the others stay empty until they are opened.
    open_tab, boxes = page_tabs(view, tuple(TABS))
    with dict(zip(TABS, boxes))[open_tab], error_boundary(view, f"{open_tab} tab"):
        TABS[open_tab](ctx)
    if open_tab != "train":
        train.sidebar_status(view, status_box)
    page_state.sync_url()
    if open_tab != "scrub" or inspected is None:  # the scrubber draws it in its fragment, following every step
        share_box(view)
