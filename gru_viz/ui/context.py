"""What a tab is given: one PageContext, built once per run by app.py (the view, the inspected model, the probe,
the forcing, the training settings); a tab is a function render(ctx) and imports no other tab."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from gru_viz.nets.model import FREE, Forcing
from gru_viz.ui.actions import Inspected, Training, current_forcing
from gru_viz.ui.probe import probe_text
from gru_viz.ui.view import View


@dataclass
class PageContext:
    """The page as the open tab sees it. The probe and the forcing are read on first use (the train tab needs
    neither), from the settings registry, for the inspected model."""

    view: View
    training: Training
    inspected: Inspected | None

    @functools.cached_property
    def probe(self) -> str:
        return probe_text(self.inspected)

    @functools.cached_property
    def _forcing(self) -> tuple[Forcing, str]:
        return current_forcing(self.inspected.model.hidden) if self.inspected is not None else (FREE, "")

    @property
    def forcing(self) -> Forcing:
        """The forcing set up (free when it cannot be applied to this model)."""
        return self._forcing[0]

    @property
    def forcing_error(self) -> str:
        """Why the forcing set up cannot be applied ('' when it can)."""
        return self._forcing[1]


Render = Callable[[PageContext], None]


def needs_model(render: Render) -> Render:
    """A tab about the inspected model: with none to inspect it says so instead of drawing."""
    @functools.wraps(render)
    def wrapped(ctx: PageContext) -> None:
        if ctx.inspected is None:
            st.info(ctx.view.t("no_model"))
            return
        render(ctx)
    return wrapped
