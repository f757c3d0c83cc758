"""Whether the focused widget takes printable keys as text (so letters type there and do not command)."""

from __future__ import annotations

import sys


def typing_in(widget: object) -> bool:
    """Whether ``widget`` is a text field: an ``Input``, or a ``TextArea`` that is not read-only.

    Asked on every footer redraw, first paint included, so it never imports the text area (and
    tree-sitter with it): if that module is not loaded, no text area can have the focus.
    """
    from textual.widgets import Input

    if isinstance(widget, Input):
        return True
    text_area = sys.modules.get("textual.widgets._text_area")
    return text_area is not None and isinstance(widget, text_area.TextArea) and not widget.read_only
