"""Looking up the app's visible strings: `translate(key, lang, **fmt)` over one dictionary per language
(gru_viz/ui/i18n/en.py and zh.py)."""

from __future__ import annotations

from gru_viz.ui.i18n.en import EN
from gru_viz.ui.i18n.zh import ZH

LANGS = {"en": EN, "zh": ZH}
LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}
LANGUAGE_LABEL = "Language · 语言"  # the same in both languages, so anyone can find the switch


def translate(key: str, lang: str = "en", **fmt: object) -> str:
    """The string for `key` in `lang` (English when missing), formatted with `fmt`."""
    table = LANGS.get(lang, EN)
    text = table.get(key, EN[key])
    return text.format(**fmt) if fmt else text
