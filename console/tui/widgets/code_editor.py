"""The editor's text area: keys handled in the order typed, and Esc leaving the text in words.

Textual checks a focused widget's key bindings (arrows, End, Home ...) only once the key event
has bubbled up to the app, while a printable key is inserted by the widget at once. Under load
a later letter can therefore be inserted before an earlier End has moved the cursor (operators
saw ``Down``x10, ``End``, ``Z`` put Z at column 1). This widget runs its own bindings itself,
in the same queue as the letters, so keys take effect in the order they were typed.
"""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widgets import TextArea


class CodeEditor(TextArea):
    """A code ``TextArea`` whose own bindings run in key order; Esc posts ``LeftText``."""

    class LeftText(Message):
        """The operator pressed Esc in the text: the keys are commands now, until they go back."""

    async def _on_key(self, event: events.Key) -> None:
        if not self.read_only and event.key == "escape":
            event.stop()
            event.prevent_default()
            self.post_message(self.LeftText())
            return
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if await self.app.run_action(binding.action, self):  # the widget's own: cursor moves, undo, select ...
                event.stop()
                event.prevent_default()
                return
        await super()._on_key(event)
