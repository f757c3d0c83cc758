"""What the Spark lint and rewrites share while walking one query: the source text, the constructs
refused (``Finding``: which rule, where, as written) and the rewrites applied."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from flowdeck.engine.backends.spark.rules import RULES, SparkRule
from flowdeck.engine.sql.render import RUN_DIALECT


@dataclass(frozen=True)
class Finding:
    """A construct the lint refuses: which rule, where in the SQL text (1-based), and as written."""

    rule: SparkRule
    line: int
    column: int
    construct: str
    detail: str | None = None

    def message(self) -> str:
        """One sentence: what is refused and why."""
        detail = f" ({self.detail})" if self.detail else ""
        return f"`{self.construct}` cannot run on Spark with the same result{detail}: {self.rule.why}"

    def hint(self) -> str:
        """What to write instead, and the rule to read about."""
        return f"{self.rule.alternative} (rule `{self.rule.id}`, see docs/spark.md)"


class TranslationContext:
    """One query on its way to Spark: its DuckDB text, what the lint refused in it, what was rewritten."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.findings: list[Finding] = []
        self.rewrites: list[str] = []

    def refuse(self, rule_id: str, node: exp.Expr, detail: str | None = None, name: str | None = None) -> None:
        """Record that ``node`` breaks rule ``rule_id`` (once per rule, line and construct); ``name``
        is the word to point at (a function's name, by default)."""
        if name is None and isinstance(node, exp.Func):  # point at the function's name, not its first argument
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
        line, column = position(node, self.text, name)
        if not line and name:  # a node made up for the message: find the name in the text
            line, column = _find_call(self.text, name)
        construct = _excerpt(node, self.text)
        if not any(f.rule.id == rule_id and f.line == line and f.construct == construct for f in self.findings):
            self.findings.append(Finding(RULES[rule_id], line, column, construct, detail))

    def rewrote(self, rule_id: str) -> None:
        """Record that rule ``rule_id`` rewrote something (once per rule)."""
        if rule_id not in self.rewrites:
            self.rewrites.append(rule_id)


def position(node: exp.Expr, text: str, name: str | None = None) -> tuple[int, int]:
    """Line and column (1-based) in ``text`` where ``node`` starts: its leftmost token, or the word ``name``
    (a function's name, which sqlglot keeps no position for) right before it, opening parentheses between."""
    starts = [int(child.meta["start"]) for child in node.walk() if "start" in (child.meta or {})]
    if not starts:
        lines = [child.meta for child in node.walk() if "line" in (child.meta or {})]
        return (int(lines[0]["line"]), int(lines[0].get("col", 0))) if lines else (0, 0)
    start = min(starts)
    before = text[:start]
    opening = len(before.rstrip(" \t\n(")) if name else start
    if name and before[:opening].lower().endswith(name.lower()):
        start = opening - len(name)
    elif name and opening < start and text[opening:start].strip().startswith("("):
        start = opening + (len(text[opening:start]) - len(text[opening:start].lstrip()))
    line = text.count("\n", 0, start) + 1
    return line, start - (text.rfind("\n", 0, start) + 1) + 1


def _find_call(text: str, name: str) -> tuple[int, int]:
    match = re.search(rf"\b{re.escape(name)}\s*\(", text, flags=re.IGNORECASE)
    if match is None:
        return 0, 0
    line = text.count("\n", 0, match.start()) + 1
    return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1


def _excerpt(node: exp.Expr, text: str) -> str:
    """The construct as the user wrote it: table qualifiers the typing added (``t.x`` for ``x``) left out."""
    written = ""
    spans = [(int(child.meta["start"]), int(child.meta["end"])) for child in node.walk() if "start" in (child.meta or {})]
    if spans:
        written = text[min(start for start, _ in spans): max(end for _, end in spans) + 1].lower()

    def unqualify(child: exp.Expr) -> exp.Expr:
        if isinstance(child, exp.Column) and child.table and f"{child.table.lower()}." not in written:
            return exp.column(child.this.copy())
        return child

    try:
        shown = node.copy().transform(unqualify).sql(dialect=RUN_DIALECT)
    except Exception:
        shown = type(node).__name__
    return shown if len(shown) <= 80 else shown[:77] + "..."


WRAPPERS = (exp.Window, exp.Filter, exp.IgnoreNulls, exp.RespectNulls)
"""What wraps an aggregate call: ``OVER (...)``, ``FILTER (WHERE ...)``, ``IGNORE NULLS``."""


def is_wrapped(node: exp.Expr) -> bool:
    """Whether ``node`` is the aggregate (or an inner wrapper) of a window, FILTER or IGNORE NULLS."""
    parent = node.parent
    return isinstance(parent, WRAPPERS) and parent.this is node


def unwrap(node: exp.Expr) -> exp.Expr:
    """The aggregate inside a chain of wrappers (``sum(x) FILTER (...) OVER (...)`` → ``sum(x)``)."""
    while isinstance(node, WRAPPERS):
        node = node.this
    return node


def counted_list(node: exp.Expr) -> exp.ArrayAgg | None:
    """The unordered ``array_agg`` / ``list`` whose length ``node`` takes (``len(array_agg(x))``), if it is
    one: only its number of elements is used, so the order Spark collects them in does not matter."""
    if not isinstance(node, (exp.Length, exp.ArraySize)) or node.args.get("expression") is not None:
        return None
    inner = unwrap(node.this)
    if isinstance(inner, exp.ArrayAgg) and not isinstance(inner.this, exp.Order):
        if isinstance(inner.this, exp.Distinct) and len(inner.this.expressions) != 1:
            return None
        return inner
    return None
