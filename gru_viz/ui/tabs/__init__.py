"""The page's tabs in their order: key -> render(ctx). Adding a tab is a module here with render(ctx), one line
in TABS and its i18n keys (tab_<key> in gru_viz/ui/i18n/en.py and zh.py)."""

from __future__ import annotations

from gru_viz.ui.context import Render
from gru_viz.ui.tabs import force, gates, scrub, train

# The pretrained model makes the scrubber useful at once, so it comes first; training is one click away.
TABS: dict[str, Render] = {
    "scrub": scrub.render,
    "force": force.render,
    "train": train.render,
    "gates": gates.render,
}
