"""Which steps of a plan a run covers: dbt-like selection expressions (`--select`, `--exclude`).

An expression is a union (space) of intersections (comma) of atoms; an atom is a selector
with graph operators around it::

    orders_clean          that step
    orders_clean+         it and every step downstream of it     (orders_clean+1: one level down)
    +daily_sales          it and every step upstream of it       (2+daily_sales: two levels up)
    +orders_clean+        both
    @orders_clean         it, its downstream, and everything upstream of those
    tag:daily             the steps whose `tags:` hold `daily` (operators apply: tag:daily+)
    state:modified        the steps the fingerprint plan says changed (state:modified+ and downstream)

``tag:daily,orders_clean+`` keeps the steps both sides select; ``a b`` takes either. The result
is in plan order. What the plan says changed comes in as a callable (``modified``), so that
selecting never reads the ledger unless an expression asks for ``state:``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.errors import ParamError
from flowdeck.engine.plan.planner import Plan

GRAMMAR = ("a selection is STEP, STEP+ (and downstream), +STEP (and upstream), +STEP+, N+STEP or STEP+N "
           "(N levels), @STEP, tag:NAME or state:modified (operators apply to these too); "
           "a space between two means either, a comma means both")
METHODS = ("tag", "state")
STATES = ("modified",)

# [@][N+]body[+[N]] where body is NAME or METHOD:VALUE; `@` and a leading `+` do not go together (dbt's rule)
_ATOM = re.compile(
    r"^(?:(?P<at>@)|(?P<up_depth>\d*)(?P<up>\+))?"
    r"(?:(?P<method>[A-Za-z_]\w*):)?(?P<value>[A-Za-z0-9_][A-Za-z0-9_-]*)"
    r"(?:(?P<down>\+)(?P<down_depth>\d*))?$"
)

Modified = Callable[[], set[str]]


class SelectionError(ParamError):
    """A `--select` or `--exclude` expression that cannot be read, names nothing, or selects no step."""


@dataclass(frozen=True)
class Atom:
    """One selector and its graph operators, as written (``text``)."""

    text: str
    method: str  # "step", "tag" or "state"
    value: str
    up: int | None = 0  # levels of upstream steps to add: 0 none, None all
    down: int | None = 0  # likewise downstream
    at: bool = False  # dbt's `@`: downstream, and everything upstream of those


def parse(expression: str, option: str = "--select") -> list[list[Atom]]:
    """The expression as a union of intersections of atoms; a SelectionError naming the token it cannot read."""
    text = re.sub(r"\s*,\s*", ",", expression.strip())  # `a, b` is read as `a,b`
    if not text:
        raise SelectionError(f"{option} is empty", hint=GRAMMAR)
    return [[_atom(token, expression, option) for token in term.split(",")] for term in text.split()]


def _atom(token: str, expression: str, option: str) -> Atom:
    match = _ATOM.match(token)
    if match is None:
        raise SelectionError(f"{option} `{expression}`: cannot read `{token}`" if token else
                             f"{option} `{expression}`: a comma with nothing on one side", hint=GRAMMAR)
    method = (match["method"] or "step").lower()
    if match["method"] is not None and method not in METHODS:
        close = difflib.get_close_matches(method, METHODS, n=1)
        raise SelectionError(f"{option} `{expression}`: unknown method `{match['method']}:` in `{token}`",
                             hint=(f"did you mean `{close[0]}:`? " if close else "") + GRAMMAR)
    if method == "state" and match["value"] not in STATES:
        raise SelectionError(f"{option} `{expression}`: unknown state `{match['value']}` in `{token}`",
                             hint=f"the state flowdeck knows is {', '.join(f'`state:{s}`' for s in STATES)}; {GRAMMAR}")

    def depth(sign: str | None, digits: str | None) -> int | None:
        if sign is None:
            return 0
        return int(digits) if digits else None

    return Atom(text=token, method=method, value=match["value"], up=depth(match["up"], match["up_depth"]),
                down=depth(match["down"], match["down_depth"]), at=match["at"] is not None)


def select_steps(plan: Plan, select: str | None, exclude: str | None = None, *,
                 modified: Modified | None = None) -> list[str]:
    """The steps ``select`` picks (every step when None) minus those ``exclude`` picks, in plan order.

    ``modified`` gives the steps whose fingerprint changed; it is called once, and only if an
    expression says ``state:``. A bad token, a name no step has, or a result with no step is a
    SelectionError that says which and what the grammar accepts.
    """
    resolver = _Resolver(plan, modified)
    chosen = resolver.evaluate(select, "--select") if select is not None else set(plan.order)
    if exclude is not None:
        dropped = resolver.evaluate(exclude, "--exclude")
        if chosen and chosen <= dropped:
            raise SelectionError(
                f"--exclude `{exclude}` leaves none of the {len(chosen)} step(s) "
                + (f"--select `{select}` selects" if select is not None else f"of pipeline `{plan.name}`"),
                hint=f"it excludes {_names(plan, dropped)}")
        chosen -= dropped
    return [name for name in plan.order if name in chosen]


def named_steps(select: str | None, selected: Iterable[str]) -> set[str]:
    """The selected steps ``select`` names by name (``orders`` in ``orders+``, not those ``+`` or a tag add):
    like ``--from STEP``'s step, a run rebuilds them whatever their fingerprint says."""
    if not select:
        return set()
    named = {atom.value for term in parse(select) for atom in term if atom.method == "step"}
    return named & set(selected)


def selection_of(options: Mapping[str, Any]) -> str:
    """What a run's options say it selected, as `show` and the run header say it:
    ``--select X --exclude Y (3 steps)``, ``from step X (5 steps)``; '' for a run of every step."""
    if options.get("from_step"):
        said = f"from step {options['from_step']}"
        if options.get("exclude"):
            said += f" --exclude {options['exclude']}"
    else:
        said = " ".join(f"--{key} {options[key]}" for key in ("select", "exclude") if options.get(key))
    steps = options.get("selected_steps")
    if said and isinstance(steps, list):
        said += f" ({len(steps)} step{'' if len(steps) == 1 else 's'})"
    return said


class _Resolver:
    """Evaluates expressions over one plan; asks for the modified steps at most once."""

    def __init__(self, plan: Plan, modified: Modified | None) -> None:
        self.plan = plan
        self._modified_source = modified
        self._modified: set[str] | None = None
        self._tags: dict[str, set[str]] = {}
        for name in plan.order:
            for tag in plan.steps[name].config.tags:
                self._tags.setdefault(tag, set()).add(name)

    def evaluate(self, expression: str, option: str) -> set[str]:
        union: set[str] = set()
        for term in parse(expression, option):
            picked = [self._expand(atom, self._base(atom, expression, option)) for atom in term]
            found = set.intersection(*picked)
            if not found and len(term) > 1:
                raise SelectionError(
                    f"{option} `{expression}`: `{','.join(atom.text for atom in term)}` selects no step",
                    hint="; ".join(f"`{atom.text}` selects {_names(self.plan, steps)}" for atom, steps in zip(term, picked))
                    + "; a comma keeps only the steps every side selects (a space takes either)")
            union |= found
        if not union:  # a lone atom found something or raised already: only state:modified can be empty here
            raise SelectionError(f"{option} `{expression}` selects no step: no step changed since its last run",
                                 hint=f"`flowdeck plan {self.plan.name}` says why each step is unchanged; "
                                      f"rebuild anyway with `flowdeck run {self.plan.name} --force`")
        return union

    def _base(self, atom: Atom, expression: str, option: str) -> set[str]:
        """The steps the atom's selector names, before its graph operators."""
        plan = self.plan
        if atom.method == "step":
            if atom.value in plan.steps:
                return {atom.value}
            close = difflib.get_close_matches(atom.value, list(plan.steps), n=3)
            raise SelectionError(
                f"{option} `{expression}`: pipeline `{plan.name}` has no step `{atom.value}`",
                hint=(f"did you mean {_or(close)}? " if close else "") + f"its steps: {', '.join(plan.order)}; {GRAMMAR}")
        if atom.method == "tag":
            if atom.value in self._tags:
                return set(self._tags[atom.value])
            close = difflib.get_close_matches(atom.value, list(self._tags), n=3)
            known = f"the tags of its steps: {', '.join(sorted(self._tags))}" if self._tags else \
                "none of its steps has `tags:` (add `tags: [NAME]` to a step in pipeline.yaml)"
            raise SelectionError(f"{option} `{expression}`: no step of pipeline `{plan.name}` has tag `{atom.value}`",
                                 hint=(f"did you mean {_or(close, prefix='tag:')}? " if close else "") + known)
        return self._modified_steps(expression, option)

    def _modified_steps(self, expression: str, option: str) -> set[str]:
        if self._modified is None:
            if self._modified_source is None:
                raise SelectionError(
                    f"{option} `{expression}`: `state:modified` needs the steps' fingerprints, which are not "
                    "available here",
                    hint="select the steps by name or tag instead (`orders_clean+`, `tag:NAME`)")
            self._modified = {name for name in self._modified_source() if name in self.plan.steps}
        return set(self._modified)

    def _expand(self, atom: Atom, base: set[str]) -> set[str]:
        """``base`` with the steps the atom's graph operators add."""
        plan = self.plan
        found = set(base)
        for name in base:
            if atom.at:
                for below in plan.downstream_of(name):
                    found |= plan.upstream_of(below)
                continue
            if atom.up != 0:
                found |= plan.upstream_of(name, depth=atom.up)
            if atom.down != 0:
                found |= plan.downstream_of(name, depth=atom.down)
        return found


def _names(plan: Plan, steps: Iterable[str]) -> str:
    chosen = set(steps)
    return ", ".join(name for name in plan.order if name in chosen) or "no step"


def _or(names: list[str], prefix: str = "") -> str:
    quoted = [f"`{prefix}{name}`" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
