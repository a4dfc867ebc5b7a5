"""What every tab reads about presentation: the language, projector mode, and escaping of user text."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from gru_viz.ui.strings import translate
from gru_viz.views.figures import AXES


@dataclass(frozen=True)
class View:
    """Presentation settings every tab reads."""

    lang: str = "en"
    projector: bool = False

    @property
    def font(self) -> int:
        return 20 if self.projector else 13

    def height(self, base: int) -> int:
        return int(base * 1.25) if self.projector else base

    def t(self, key: str, **fmt: object) -> str:
        return translate(key, self.lang, **fmt)

    def ts(self, key: str, **fmt: object) -> str:
        """A text that says where the training settings are: `key` names the sidebar, `key`_proj (on a projector,
        where the sidebar is hidden) the Settings button at the top."""
        return self.t(f"{key}_proj" if self.projector else key, **fmt)

    @property
    def chart_config(self) -> dict[str, object]:
        """Plotly's config for the page's charts: no logo and no toolbar. Its icons covered the legends and ④'s
        titles (on a projector at 1280x720, and on a tablet, where a tap shows them and they stay); dragging still
        zooms and a double click resets, and the page has its own export."""
        return {"displaylogo": False, "displayModeBar": False}

    @property
    def axes(self) -> dict[str, str]:
        """Axis words for the figure builders, in this language."""
        return {k: self.t(f"ax_{k.replace(' ', '_')}") for k in AXES}


# A one-letter symbol (H, H̃, W, b, ℓ) and its subscript, "_t", "_xh", "_t′" or "_{t−1}"; "rnn_scratch" is no formula.
_SUBSCRIPT = re.compile(r"(?<![A-Za-z_])([A-Za-zℓ]\u0303?)_(\{[^}]*\}|[A-Za-z0-9]+′?)")


def math_html(text: str) -> str:
    """The app's own formula text ("H_t = tanh(X_t W_xh + H_{t−1} W_hh + b_h)") with its subscripts as HTML <sub>,
    the rest escaped: for st.caption(unsafe_allow_html=True) and Plotly titles. Markdown showed "H_{t−1}" as typed.
    Only for the app's strings: a visitor's text goes through md_escape."""
    return _SUBSCRIPT.sub(lambda m: f"{m.group(1)}<sub>{m.group(2).strip('{}')}</sub>", html.escape(text, quote=False))


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~$:])")
# Markdown also links bare addresses (https://…, www.…, a@b.c) with no special character to escape: a zero-width
# space after the scheme, "www" or "@" breaks the pattern and looks the same.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www|@)")


def md_escape(text: str) -> str:
    """User or URL text (file names, pasted text, a link's values) shown through Markdown: every Markdown and
    HTML character escaped and bare addresses broken, so a link or an image in it stays text."""
    return _MD_SPECIAL.sub(r"\\\1", _AUTOLINK.sub("\\1\u200b", text))
