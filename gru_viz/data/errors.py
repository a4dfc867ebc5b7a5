"""The one error of the corpus layer: a text could not be obtained or used; its message is meant for a person."""

from __future__ import annotations


class CorpusError(ValueError):
    """A corpus could not be obtained or is unusable; the message is meant for a person."""
