"""The footer of every console screen: Textual's, with the keys that apply here, built with less work.

Textual's footer rebuilds all its keys each time the screen's bindings change, which happens
several times while a screen opens (it resumes, the focus moves) with the same keys each time,
and each key it mounts is styled three times (a key starts compact, then takes the footer's
setting). That was a third of the styling before the console's first paint. This footer skips
a rebuild that would show the same keys, and makes each key with the footer's style already set.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # the footer's own key widget (not exported by textual.widgets)


class ConsoleFooter(Footer):
    """The keys that apply on this screen (from the action registry's bindings), without the palette key."""

    def __init__(self) -> None:
        super().__init__(show_command_palette=False)
        self._composed: tuple[Any, ...] | None = None  # what the keys shown were made from

    def _keys_wanted(self) -> tuple[Any, ...]:
        """What the footer's keys are made from: the screen's bindings shown, enabled or not, and the style."""
        app = self.app
        return (self.compact, self.show_command_palette, tuple(
            (binding.key, app.get_key_display(binding), binding.description, binding.action, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values() if binding.show))

    def compose(self) -> ComposeResult:
        """Textual's keys, each made in the footer's style (mounting it then changes none of its classes)."""
        made_keys = False
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.set_reactive(FooterKey.compact, self.compact)
                widget.set_class(self.compact, "-compact", update=False)
                made_keys = True
            yield widget
        self._composed = self._keys_wanted() if made_keys else None

    async def recompose(self) -> None:
        """Rebuild the keys, unless they would come out as they are.

        Only the visible screen's footer is compared: a footer being removed, or one of a screen
        left for another, is Textual's to handle (the app's actions ask the visible screen whether
        they apply, and a screen just opened may not have its widgets yet).
        """
        if (self._composed is not None and self.display and self.is_attached and self.screen is self.app.screen
                and self._keys_wanted() == self._composed):
            return
        await super().recompose()
