"""Small modal dialogs: engine errors, confirmations, choosing a step, debug info, forms (the launch dialog is
screens/launch.py)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from flowdeck.console.tui.actions import bindings


class ErrorDialog(ModalScreen[None]):
    """An engine error as the CLI would print it: where, what, the offending line, what to do."""

    BINDINGS = [Binding("escape,enter,f9", "close", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        """Title, scrollable message, close button."""
        with Vertical(classes="dialog error-dialog"):
            yield Label(f"✗ {self.title_text}", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.text, markup=False, id="error-text")
            yield Button("Close (Enter)", id="close", variant="error")

    def on_mount(self) -> None:
        """Focus the button so Enter closes."""
        self.query_one(Button).focus()

    def action_close(self) -> None:
        """Close the dialog."""
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; y/Enter confirms, n/Esc refuses."""

    BINDINGS = [
        Binding("y,ctrl+y", "answer(True)", "Yes"),
        Binding("n,escape,f9", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        """The question and two buttons."""
        with Vertical(classes="dialog"):
            yield Static(self.question, markup=False, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        """Focus "No": a stray Enter must not do the dangerous thing."""
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        """Close with the answer."""
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ChooseDialog(ModalScreen[str | None]):
    """Pick one item from a list (a step to rerun from, a table to preview)."""

    BINDINGS = [Binding("escape,f9", "cancel", "Cancel")]

    def __init__(self, title: str, choices: list[str], selected: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.choices = choices
        self.selected = selected

    def compose(self) -> ComposeResult:
        """The title and the list."""
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield OptionList(*[Option(choice, id=choice) for choice in self.choices], id="choices")

    def on_mount(self) -> None:
        """Highlight the preselected choice."""
        options = self.query_one(OptionList)
        options.focus()
        if self.selected in self.choices:
            options.highlighted = self.choices.index(self.selected)

    def action_cancel(self) -> None:
        """Close without choosing."""
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class TextDialog(ModalScreen[None]):
    """Read-only text (help, debug information), scrollable (j/k/g/G as in less)."""

    BINDINGS = [Binding("escape,enter,f9,q,question_mark,f1", "close", "Close"), *bindings("text")]

    def __init__(self, title: str, body: object, *, dialog_id: str) -> None:
        super().__init__(classes="dialog-screen", id=dialog_id)
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        """Title and scrollable body."""
        with Vertical(classes="dialog wide-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body, markup=False)  # type: ignore[arg-type]
            yield Static("Esc / Enter: close", classes="dialog-hint")

    def on_mount(self) -> None:
        """Focus the scroller so arrow keys scroll."""
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        """Close."""
        self.dismiss(None)

    def action_scroll_down(self) -> None:
        """Down a line."""
        self.query_one(VerticalScroll).scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        """Up a line."""
        self.query_one(VerticalScroll).scroll_up(animate=False)

    def action_scroll_top(self) -> None:
        """To the top."""
        self.query_one(VerticalScroll).scroll_home(animate=False)

    def action_scroll_bottom(self) -> None:
        """To the end."""
        self.query_one(VerticalScroll).scroll_end(animate=False)


class FormDialog(ModalScreen[dict[str, str] | None]):
    """A few labelled text fields (a new step's kind, name and table...); Enter submits, Esc cancels."""

    BINDINGS = [Binding("escape,f9", "cancel", "Cancel"), Binding("ctrl+s,f5", "submit", "OK")]

    def __init__(self, title: str, fields: list[tuple[str, str, str]], hint: str = "") -> None:
        """``fields``: (id, label, starting value) of each text field, in order."""
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.fields = fields
        self.hint = hint

    def compose(self) -> ComposeResult:
        """The title, one labelled input per field, what the keys do."""
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            for field_id, label, value in self.fields:
                yield Label(label)
                yield Input(value=value, id=f"field-{field_id}")
            yield Static((self.hint + "\n" if self.hint else "") + "Enter: OK · Tab: next field · Esc: cancel",
                         classes="dialog-hint")

    def on_mount(self) -> None:
        """Focus the first field."""
        self.query(Input).first().focus()

    def action_cancel(self) -> None:
        """Close without an answer."""
        self.dismiss(None)

    def action_submit(self) -> None:
        """Close with the values typed."""
        self.dismiss({field_id: self.query_one(f"#field-{field_id}", Input).value.strip()
                      for field_id, _, _ in self.fields})

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()
