"""Rewrites that make Spark compute what DuckDB computes (see ``rules.py`` for the list).

Each rewrite replaces a node of the typed DuckDB syntax tree by Spark SQL with DuckDB's
meaning. Rewrites run bottom-up, so a node's children are already rewritten; a rewrite that
needs a type it cannot know refuses instead (``unknown_type``).

An aggregate's rewrite may wrap it (``CAST(sum(x) AS DECIMAL(38, 2))``) or combine several
aggregates; its ``OVER (...)`` and ``FILTER (WHERE ...)`` then belong to each aggregate call
inside, not to the whole (Spark cannot parse ``CAST(sum(x) AS ...) OVER (...)``). So aggregate
rewrites (``_AGGREGATE_REWRITES``) build their Spark SQL from a function that puts the
aggregate's wrappers back around each call, and run at the outermost wrapper.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from flowdeck.engine.backends.spark.case_mapping import duckdb_case_mapping
from flowdeck.engine.backends.spark.context import WRAPPERS, TranslationContext, counted_list, is_wrapped, unwrap
from flowdeck.engine.backends.spark.dialect import FlowdeckSpark
from flowdeck.engine.backends.spark.strptime import Unsupported, spark_strptime
from flowdeck.engine.sql.render import string

DType = exp.DType
_INTEGERS = exp.DataType.INTEGER_TYPES
_NUMBERS = exp.DataType.NUMERIC_TYPES
_TEXT = exp.DataType.TEXT_TYPES
_TIMESTAMPS = {DType.TIMESTAMP, DType.TIMESTAMP_S, DType.TIMESTAMP_MS, DType.TIMESTAMP_NS, DType.DATETIME,
               DType.TIMESTAMPNTZ}
_DATE_PART_BOUNDARIES = {
    "YEAR": "year({b}) - year({a})",
    "QUARTER": "(year({b}) * 4 + quarter({b})) - (year({a}) * 4 + quarter({a}))",
    "MONTH": "(year({b}) * 12 + month({b})) - (year({a}) * 12 + month({a}))",
    "DAY": "datediff(CAST({b} AS DATE), CAST({a} AS DATE))",
    "HOUR": "CAST(floor(unix_micros(CAST({b} AS TIMESTAMP)) / 3600000000D) - "
            "floor(unix_micros(CAST({a} AS TIMESTAMP)) / 3600000000D) AS BIGINT)",
    "MINUTE": "CAST(floor(unix_micros(CAST({b} AS TIMESTAMP)) / 60000000D) - "
              "floor(unix_micros(CAST({a} AS TIMESTAMP)) / 60000000D) AS BIGINT)",
    "SECOND": "CAST(floor(unix_micros(CAST({b} AS TIMESTAMP)) / 1000000D) - "
              "floor(unix_micros(CAST({a} AS TIMESTAMP)) / 1000000D) AS BIGINT)",
}
_UNIT_ALIASES = {"YEARS": "YEAR", "Y": "YEAR", "YR": "YEAR", "YRS": "YEAR", "QUARTERS": "QUARTER",
                 "MONTHS": "MONTH", "MON": "MONTH", "MONS": "MONTH", "DAYS": "DAY", "D": "DAY", "DAYOFMONTH": "DAY",
                 "HOURS": "HOUR", "H": "HOUR", "HR": "HOUR", "HRS": "HOUR", "MINUTES": "MINUTE", "MIN": "MINUTE",
                 "MINS": "MINUTE", "M": "MINUTE", "SECONDS": "SECOND", "SEC": "SECOND", "SECS": "SECOND", "S": "SECOND"}
_DOW_NAMES = {"dow": "dow", "dayofweek": "dow", "weekday": "dow", "isodow": "isodow"}


def rewrite(tree: exp.Expr, context: TranslationContext) -> exp.Expr:
    """Apply every rewrite to ``tree``, children before parents, and return the new tree."""
    root = tree
    for node in reversed(list(tree.walk(bfs=False))):
        for rule in _REWRITES:
            replaced = rule(node, context)
            if replaced is None:
                continue
            if replaced is not node:
                replaced.type = node.type  # parents still decide by the type DuckDB gives it
                if node is root:
                    root = replaced
                else:
                    node.replace(replaced)
            break
    return root


# -- helpers ------------------------------------------------------------------------------------


def spark(sql: str) -> exp.Expr:
    """Spark SQL text as a node that generates exactly that text."""
    return exp.Var(this=sql)


def text(node: exp.Expr) -> str:
    """A (rewritten) node as Spark SQL."""
    return node.sql(dialect=FlowdeckSpark)


def _type(node: exp.Expr) -> DType | None:
    kind = node.type
    if kind is None or kind.this in (DType.UNKNOWN, DType.NULL):
        return None
    this: DType = kind.this  # a DataType's `this` is its DType (sqlglot types its args as Any)
    return this


Wrap = Callable[[str], str]  # an aggregate call's Spark SQL → the same call with its FILTER / OVER
AggregateSql = Callable[[Wrap], str]  # builds an aggregate's Spark SQL around its wrapped calls


def _wrapping(outer: exp.Expr) -> Wrap:
    """A function putting ``outer``'s wrappers (its FILTER, OVER, IGNORE NULLS) around an aggregate call."""
    if not isinstance(outer, WRAPPERS):
        return lambda call: call

    def wrap(call: str) -> str:
        copy = outer.copy()
        unwrap(copy).replace(spark(call))
        return text(copy)

    return wrap


def _literal_string(node: exp.Expr | None) -> str | None:
    return node.this if isinstance(node, exp.Literal) and node.is_string else None


def _literal_int(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_int:
        return -int(node.this.this)
    return None


# -- the rewrites ---------------------------------------------------------------------------------


def _division(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if not isinstance(node, exp.Div):
        return None
    if any(_type(side) in (DType.INTERVAL,) for side in (node.this, node.expression)):
        return None
    context.rewrote("division")
    a = f"CAST({text(node.this)} AS DOUBLE)"
    divisor = _literal_number(node.expression)
    if divisor is not None and divisor != 0:
        return spark(f"({a} / CAST({text(node.expression)} AS DOUBLE))")
    b = f"CAST({text(node.expression)} AS DOUBLE)"
    # DuckDB: x / 0 is ±inf (NaN for 0 / 0); Spark under ANSI raises, so answer zero divisors here
    return spark(f"(CASE WHEN {b} = 0 THEN {a} * CAST('Infinity' AS DOUBLE) ELSE try_divide({a}, {b}) END)")


def _literal_number(node: exp.Expr) -> float | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    return None


def _regexp_replace(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if not isinstance(node, exp.RegexpReplace):
        return None
    pattern = _literal_string(node.expression)
    replacement = _literal_string(node.args.get("replacement"))
    modifiers_node = node.args.get("modifiers")
    modifiers = _literal_string(modifiers_node) if modifiers_node is not None else ""
    if pattern is None or replacement is None or modifiers is None or set(modifiers) - set("gic"):
        context.refuse("regexp_replace", node, detail="only literal patterns, replacements and the options g, i, c",
                       name="regexp_replace")
        return node
    context.rewrote("regexp_replace")
    flags = _case_flags(modifiers)
    subject = text(node.this)
    if "g" in modifiers:
        java_pattern, java_replacement = flags + pattern, _java_replacement(replacement, shift=0)
    else:  # first match only: a lazy prefix finds the leftmost match (group 1), the match is group 2
        prefix = flags + r"^([\s\S]*?)("
        java_pattern = _shift_backreferences(prefix + pattern + ")", len(prefix))
        java_replacement = "$1" + _java_replacement(replacement, shift=2)
    return spark(f"regexp_replace({subject}, {string(java_pattern, 'spark')}, {string(java_replacement, 'spark')})")


def _case_flags(options: str) -> str:
    """Java's inline flags for DuckDB's regex options `i` (case-insensitive, the last of `i`/`c` wins): Unicode
    case folding as RE2's (Java's `(?i)` alone folds ASCII only, so 'É' would not match 'é')."""
    return "(?iu)" if "i" in options and "c" not in options.split("i")[-1] else ""


def _regexp_options(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``regexp_matches`` / ``regexp_extract`` / ``regexp_extract_all`` with options: sqlglot drops the options,
    so `regexp_matches(s, 'a', 'i')` matched case-sensitively on Spark; they become the pattern's inline flags."""
    if isinstance(node, exp.RegexpLike) and node.args.get("flag") is not None:
        options_node = node.args["flag"]
    elif isinstance(node, (exp.RegexpExtract, exp.RegexpExtractAll)) and node.args.get("parameters") is not None:
        options_node = node.args["parameters"]
    else:
        return None
    options = _literal_string(options_node)
    name = {exp.RegexpLike: "regexp_matches", exp.RegexpExtract: "regexp_extract"}.get(type(node), "regexp_extract_all")
    if options is None or set(options) - set("ic"):
        context.refuse("regexp_options", node, name=name, detail="options other than a literal of i and c")
        return node
    context.rewrote("regexp_options")
    flags, pattern = _case_flags(options), node.expression
    literal = _literal_string(pattern)
    flagged = (string(flags + literal, "spark") if literal is not None
               else f"concat({string(flags, 'spark')}, {text(pattern)})")
    if isinstance(node, exp.RegexpLike):
        return spark(f"({text(node.this)} RLIKE {flagged})")
    group = node.args.get("group")
    function = "regexp_extract" if isinstance(node, exp.RegexpExtract) else "regexp_extract_all"
    return spark(f"{function}({text(node.this)}, {flagged}, {text(group) if group is not None else '0'})")


def _java_replacement(replacement: str, *, shift: int) -> str:
    """RE2's replacement (``\\1``, ``\\\\``) as Java's (``$1``, literal ``$`` escaped); groups move up by ``shift``."""
    out: list[str] = []
    index = 0
    while index < len(replacement):
        char = replacement[index]
        if char == "\\" and index + 1 < len(replacement):
            following = replacement[index + 1]
            out.append(f"${int(following) + shift}" if following.isdigit() else "\\\\" if following == "\\" else following)
            index += 2
            continue
        out.append("\\$" if char == "$" else char)
        index += 1
    return "".join(out)


def _shift_backreferences(pattern: str, start: int) -> str:
    """Back-references inside the user's pattern move up two groups (the prefix and the match)."""
    head, body = pattern[:start], pattern[start:]
    return head + re.sub(r"\\(\d)", lambda m: "\\" + str(int(m[1]) + 2), body)


def _aggregate(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """The aggregate rewrites, applied at the outermost of an aggregate's wrappers."""
    if is_wrapped(node):
        return None  # the wrapper above rewrites it, with its FILTER / OVER around each call
    inner = unwrap(node)
    for rule in _AGGREGATE_REWRITES:
        build = rule(inner, context)
        if build is not None:
            return spark(build(_wrapping(node)))
    return None


def _ordered_list(node: exp.Expr, context: TranslationContext) -> AggregateSql | None:
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        context.rewrote("ordered_list_agg")
        order = node.this
        return lambda wrap: _sorted_values(order, wrap)
    if isinstance(node, (exp.ArrayAgg, exp.GroupConcat)) and isinstance(node.this, exp.Order) and isinstance(
            node.this.this, exp.Distinct):
        return _distinct_ordered(node, node.this, context)
    if isinstance(node, exp.GroupConcat) and isinstance(node.this, exp.Order):
        context.rewrote("ordered_list_agg")
        order = node.this
        separator = node.args.get("separator")
        glue = text(separator) if separator is not None else string(",", "spark")
        # string_agg over no non-NULL value is NULL in DuckDB; array_join of nothing is ''
        return lambda wrap: (f"(CASE WHEN {wrap(f'count({text(order.this)})')} = 0 THEN NULL "
                             f"ELSE array_join({_sorted_values(order, wrap)}, {glue}) END)")
    return None


def _distinct_ordered(node: exp.Expr, order: exp.Order, context: TranslationContext) -> AggregateSql | None:
    """``string_agg(DISTINCT x, sep ORDER BY x)``: Spark's collect_set sorted (NULLs skipped, as string_agg does)."""
    values = order.this.expressions
    keys = list(order.expressions)
    if not (isinstance(node, exp.GroupConcat) and len(values) == 1 and len(keys) == 1
            and keys[0].this == values[0] and not keys[0].args.get("nulls_first")):
        context.refuse("ordered_list_agg", node, detail="DISTINCT with an ORDER BY other than the value itself")
        return None
    context.rewrote("ordered_list_agg")
    value, descending = text(values[0]), bool(keys[0].args.get("desc"))
    separator = node.args.get("separator")
    glue = text(separator) if separator is not None else string(",", "spark")

    def build(wrap: Wrap) -> str:
        distinct = f"array_sort({wrap(f'collect_set({value})')})"
        listed = f"reverse({distinct})" if descending else distinct
        return f"(CASE WHEN {wrap(f'count({value})')} = 0 THEN NULL ELSE array_join({listed}, {glue}) END)"

    return build


def _sorted_values(order: exp.Order, wrap: Wrap) -> str:
    """``list(value ORDER BY keys)`` in Spark: collect (keys, value) structs, sort them, keep the values."""
    value = order.this
    keys = list(order.expressions)
    fields = ", ".join([*(f"{text(key.this)} AS k{i}" for i, key in enumerate(keys)), f"{text(value)} AS v"])
    comparison = "0"
    for i, key in reversed(list(enumerate(keys))):
        descending = bool(key.args.get("desc"))
        nulls_first = bool(key.args.get("nulls_first"))
        before, after = ("-1", "1") if not descending else ("1", "-1")
        null_left = "-1" if nulls_first else "1"
        null_right = "1" if nulls_first else "-1"
        comparison = (
            f"CASE WHEN l.k{i} IS NULL AND r.k{i} IS NULL THEN {comparison} WHEN l.k{i} IS NULL THEN {null_left} "
            f"WHEN r.k{i} IS NULL THEN {null_right} WHEN l.k{i} < r.k{i} THEN {before} "
            f"WHEN l.k{i} > r.k{i} THEN {after} ELSE {comparison} END"
        )
    collected = wrap(f"collect_list(struct({fields}))")
    return f"transform(array_sort({collected}, (l, r) -> {comparison}), s -> s.v)"


def _date_diff(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if not isinstance(node, exp.DateDiff):
        return None
    unit_node = node.args.get("unit")
    unit = (unit_node.name if unit_node is not None else "DAY").upper()
    unit = _UNIT_ALIASES.get(unit, unit)
    template = _DATE_PART_BOUNDARIES.get(unit)
    if template is None:
        context.refuse("date_diff", node, detail=f"unit {unit.lower()}")
        return node
    context.rewrote("date_diff")
    return spark("(" + template.format(a=text(node.expression), b=text(node.this)) + ")")


def _day_of_week(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    kind: str | None = None
    argument: exp.Expr | None = None
    if isinstance(node, exp.DayOfWeekIso):
        kind, argument = "isodow", node.this
    elif isinstance(node, exp.DayOfWeek):
        kind, argument = "dow", node.this
    elif isinstance(node, exp.Extract) and node.name.lower() in _DOW_NAMES:
        kind, argument = _DOW_NAMES[node.name.lower()], node.expression
    elif isinstance(node, exp.Anonymous) and node.name.lower() == "weekday" and len(node.expressions) == 1:
        kind, argument = "dow", node.expressions[0]
    elif isinstance(node, exp.Anonymous) and node.name.lower() in ("date_part", "datepart") and node.expressions:
        part = _literal_string(node.expressions[0])
        if part is not None and part.lower() in _DOW_NAMES and len(node.expressions) == 2:
            kind, argument = _DOW_NAMES[part.lower()], node.expressions[1]
    if kind is None or argument is None:
        return None
    context.rewrote("day_of_week")
    value = text(argument)
    if kind == "isodow":
        return spark(f"CAST(((dayofweek({value}) + 5) % 7 + 1) AS BIGINT)")
    return spark(f"CAST((dayofweek({value}) - 1) AS BIGINT)")


def _epoch(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if isinstance(node, exp.TimeToUnix):
        argument, scale = node.this, 0
    elif isinstance(node, exp.UnixToTime) and _literal_int(node.args.get("scale")) == 3:
        argument, scale = node.this, 3
    elif isinstance(node, exp.Anonymous) and node.name.lower() in ("epoch_us", "epoch_ns") and len(node.expressions) == 1:
        argument, scale = node.expressions[0], 6 if node.name.lower() == "epoch_us" else 9
    elif isinstance(node, exp.Extract) and node.name.lower() == "epoch":  # a DOUBLE of seconds, as epoch(x)
        argument, scale = node.expression, 0
    else:
        return None
    kind = _type(argument)
    if kind in _INTEGERS and scale == 3:  # epoch_ms(integer) is a timestamp from milliseconds
        context.rewrote("epoch")
        return spark(f"CAST(timestamp_millis({text(argument)}) AS TIMESTAMP)")
    if kind not in _TIMESTAMPS and kind != DType.DATE:
        context.refuse("unknown_type" if kind is None else "epoch", node,
                       detail="the argument must be a TIMESTAMP or DATE")
        return node
    context.rewrote("epoch")
    micros = f"unix_micros(CAST({text(argument)} AS TIMESTAMP))"
    if scale == 0:
        return spark(f"({micros} / 1000000D)")
    if scale == 3:
        return spark(f"CAST(round({micros} / 1000D) AS BIGINT)")  # DuckDB rounds to the nearest millisecond
    return spark(micros if scale == 6 else f"({micros} * 1000)")


def _bracket(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1:
        return None
    base, index = node.this, node.expressions[0]
    kind = _type(base)
    if kind == DType.STRUCT:
        return None
    if kind == DType.MAP and not isinstance(index, exp.Slice):
        context.rewrote("list_index")
        return spark(f"try_element_at({text(base)}, {text(index)})")
    if kind not in (DType.ARRAY, DType.LIST) and kind not in _TEXT:
        context.refuse("unknown_type" if kind is None else "list_index", node,
                       detail="indexing needs a list or text of known type")
        return node
    is_text = kind in _TEXT
    if isinstance(index, exp.Slice):
        start, end = _literal_int(index.this), _literal_int(index.expression)
        if (index.this is not None and (start is None or start < 0)) or (
                index.expression is not None and (end is None or end < 0)):
            context.refuse("list_index", node, detail="slices need non-negative literal bounds")
            return node
        first = max(start or 1, 1)
        length = f"{end - first + 1}" if end is not None else f"{'length' if is_text else 'array_size'}({text(base)})"
        context.rewrote("list_index")
        return spark(f"{'substring' if is_text else 'slice'}({text(base)}, {first}, {length})")
    literal = _literal_int(index)
    # sqlglot stores a literal index already shifted to 0-based, a computed one as written (1-based)
    position = str(literal + 1) if literal is not None else f"NULLIF({text(index)}, 0)"
    context.rewrote("list_index")
    return spark(_element(text(base), is_text, position))


def _element(base: str, is_text: bool, position: str) -> str:
    """DuckDB's element ``position`` (1-based, negative from the end) of a list or text: NULL (a list)
    or '' (text) out of range, where Spark raises."""
    if position == "0":
        return "NULL"
    if is_text:
        return f"substring({base}, {position}, 1)"
    return f"try_element_at({base}, {position})"


def _list_extract(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``list_extract(list, i)`` (and its names ``list_element``, ``array_extract``): ``list[i]``."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() in ("list_extract", "list_element", "array_extract")
            and len(node.expressions) == 2):
        return None
    base, index = node.expressions
    kind = _type(base)
    if kind not in (DType.ARRAY, DType.LIST) and kind not in _TEXT:
        context.refuse("unknown_type" if kind is None else "list_index", node,
                       detail="list_extract needs a list or text of known type")
        return node
    literal = _literal_int(index)  # as written: 1-based
    position = str(literal) if literal is not None else f"NULLIF({text(index)}, 0)"
    context.rewrote("list_index")
    return spark(_element(text(base), kind in _TEXT, position))


def _length(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if not isinstance(node, (exp.Length, exp.ArraySize)) or node.args.get("expression") is not None:
        return None
    counted = counted_list(node)
    if counted is not None:  # len(array_agg(x)): a count, whatever the order (and NULLs count, as in DuckDB)
        context.rewrote("length_of_list_agg")
        return spark(_list_length(counted, _wrapping(node.this)))
    if isinstance(node, exp.ArraySize):
        return None
    kind = _type(node.this)
    if kind in (DType.ARRAY, DType.LIST):
        context.rewrote("length_of_list")
        return spark(f"array_size({text(node.this)})")
    if kind is None and not isinstance(node.this, exp.Literal):
        context.refuse("unknown_type", node, detail="len() of a list or of text?", name="len")
    return None


def _list_length(aggregate: exp.ArrayAgg, wrap: Wrap) -> str:
    """The length of DuckDB's ``array_agg(x)``: its rows, NULLs included; NULL (not 0) over no row."""
    value = aggregate.this
    if isinstance(value, exp.Distinct):  # distinct values, a NULL among them counting once
        (item,) = value.expressions
        column = text(item)
        counted = f"({wrap(f'count(DISTINCT {column})')} + {wrap(f'max(CASE WHEN {column} IS NULL THEN 1 ELSE 0 END)')})"
    else:
        counted = wrap("count(1)")
    return f"NULLIF({counted}, 0)"


def _avg_decimal(node: exp.Expr, context: TranslationContext) -> AggregateSql | None:
    if isinstance(node, exp.Avg) and _type(node.this) == DType.DECIMAL:
        context.rewrote("avg_decimal")
        value = text(node.this)
        return lambda wrap: wrap(f"avg(CAST({value} AS DOUBLE))")
    if isinstance(node, exp.Sum) and _type(node.this) == DType.DECIMAL and node.this.type is not None:
        scale = node.this.type.expressions[1].this.this if len(node.this.type.expressions) > 1 else "0"
        context.rewrote("avg_decimal")  # DuckDB sums DECIMAL(p, s) into DECIMAL(38, s), Spark into (p + 10, s)
        value = text(node.this)
        return lambda wrap: f"CAST({wrap(f'sum({value})')} AS DECIMAL(38, {scale}))"
    return None


def _round_double(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if isinstance(node, (exp.Floor, exp.Ceil)) and _type(node.this) in (DType.DOUBLE, DType.FLOAT):
        if node.args.get("decimals") is None:
            context.rewrote("round_double")
            name = "floor" if isinstance(node, exp.Floor) else "ceil"
            return spark(f"CAST({name}({text(node.this)}) AS DOUBLE)")
    if isinstance(node, exp.Round) and _type(node.this) in (DType.DOUBLE, DType.FLOAT):
        digits = _literal_int(node.args.get("decimals"))
        if node.args.get("decimals") is not None and digits is None:
            context.refuse("unknown_type", node, detail="round() needs literal digits", name="round")
            return node
        if not digits:
            return None  # to a whole number both engines agree
        context.rewrote("round_double")
        return spark(_exact_round(text(node.this), digits))
    return None


def _exact_round(value: str, digits: int, *, ties_to_even: bool = False) -> str:
    """Round the binary value of a DOUBLE half away from zero, as DuckDB's round does (half to
    even, as its printf does, with ``ties_to_even``), in Spark SQL.

    ``x * 10^n`` is computed exactly as ``p + e`` (Dekker's two-product: ``p`` the rounded
    product, ``e`` its error); only when ``p`` lands exactly on a half does ``e`` decide.
    """
    scale = f"1e{abs(digits)}D"
    if digits < 0:
        return f"(round({value} / {scale}, 0) * {scale})"
    a, b = f"({value})", scale
    split = "134217729D"  # 2^27 + 1: Veltkamp's split of a double into two 26-bit halves
    a_hi = f"({split} * {a} - ({split} * {a} - {a}))"
    a_lo = f"({a} - {a_hi})"
    factor = 10.0 ** digits  # the same split of the constant, done here in the same IEEE arithmetic
    spread = 134217729.0 * factor
    factor_hi = spread - (spread - factor)
    b_hi, b_lo = f"{factor_hi!r}D", f"{factor - factor_hi!r}D"
    p = f"({a} * {b})"
    e = f"((({a_hi} * {b_hi} - {p}) + {a_hi} * {b_lo} + {a_lo} * {b_hi}) + {a_lo} * {b_lo})"
    tie = f"({p} - floor({p}) = 0.5D)"
    rounded = (f"CASE WHEN {tie} AND {e} > 0 THEN ceil({p}) WHEN {tie} AND {e} < 0 THEN floor({p}) "
               f"ELSE {'bround' if ties_to_even else 'round'}({p}, 0) END")
    return f"(CAST({rounded} AS DOUBLE) / {scale})"


def _cast_text_to_integer(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if not isinstance(node, (exp.Cast, exp.TryCast)) or not node.to.is_type(*_INTEGERS):
        return None
    kind = _type(node.this)
    if kind is not None and kind not in _TEXT:
        return None
    context.rewrote("cast_text_to_integer")
    cast = "TRY_CAST" if isinstance(node, exp.TryCast) or node.args.get("safe") else "CAST"
    target = text(node.to)
    return spark(f"{cast}(round({cast}({text(node.this)} AS DECIMAL(38, 10))) AS {target})")


def _cast_number_to_integer(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if not isinstance(node, (exp.Cast, exp.TryCast)) or not node.to.is_type(*_INTEGERS):
        return None
    kind = _type(node.this)
    if kind not in (DType.DOUBLE, DType.FLOAT, DType.DECIMAL):
        return None
    context.rewrote("cast_number_to_integer")
    cast = "TRY_CAST" if isinstance(node, exp.TryCast) or node.args.get("safe") else "CAST"
    # DuckDB rounds a DOUBLE half to even and a DECIMAL half away from zero; Spark truncates both
    rounded = f"bround({text(node.this)}, 0)" if kind != DType.DECIMAL else f"round({text(node.this)}, 0)"
    return spark(f"{cast}({rounded} AS {text(node.to)})")


def _concat(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """DuckDB's ``concat`` skips NULLs and takes any type; sqlglot's Spark SQL coalesces a number with ''."""
    if not isinstance(node, exp.Concat) or all(_type(o) in _TEXT or isinstance(o, exp.Null) for o in node.expressions):
        return None
    if any(_type(o) is None and not isinstance(o, exp.Null) for o in node.expressions):
        context.refuse("unknown_type", node, detail="concat of text or of another type?", name="concat")
        return node
    context.rewrote("concat")
    parts = [text(o) if _type(o) in _TEXT or isinstance(o, exp.Null) else f"CAST({text(o)} AS STRING)"
             for o in node.expressions]
    return spark("concat(" + ", ".join(f"coalesce({part}, '')" for part in parts) + ")")


def _parse_filename(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``parse_filename(path[, trim_extension[, separator]])``: the last part of a path, as DuckDB cuts it."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "parse_filename") or not node.expressions:
        return None
    path, *options = node.expressions
    trim = options[0] if options else exp.false()
    separator = _literal_string(options[1]) if len(options) > 1 else "default"
    separators = {"default": r"/\\", "both_slash": r"/\\", "system": "/", "forward_slash": "/", "backslash": r"\\"}
    if not isinstance(trim, exp.Boolean) or separator not in separators:
        context.refuse("parse_filename", node, name="parse_filename",
                       detail="trim_extension must be true or false, the separator a literal")
        return node
    context.rewrote("parse_filename")
    name = f"regexp_extract({text(path)}, {string('[^' + separators[separator] + ']*$', 'spark')}, 0)"
    if trim.this:  # DuckDB cuts the last extension, and a name that starts with a dot entirely
        name = f"regexp_replace({name}, {string(r'[.][^.]*$', 'spark')}, '')"
    return spark(name)


_PRINTF_SPEC = re.compile(r"%(?P<flags>[-+ 0#,]*)(?P<width>\d*)(?:\.(?P<precision>\d+))?(?P<conversion>[a-zA-Z%])")


def _printf(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``printf(format, ...)``: NULL when an argument is NULL, and a DOUBLE's ``%.Nf`` rounded from its
    binary value half to even (DuckDB's fmt); Spark prints `null` and rounds the shortest text half up."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() in ("printf", "format_string")
            and node.expressions):
        return None
    fmt, *arguments = node.expressions
    pattern = _literal_string(fmt)
    specs = [m for m in _PRINTF_SPEC.finditer(pattern or "") if m["conversion"] != "%"]
    if pattern is None or len(specs) != len(arguments):
        context.refuse("printf", node, name=node.name, detail="the format must be a string literal with one "
                       "specifier an argument")
        return node
    java_format, values = pattern, []
    for spec, argument in zip(specs, arguments):
        conversion, kind = spec["conversion"], _type(argument)
        if kind is None:
            context.refuse("unknown_type", node, name=node.name, detail=f"the type of {text(argument)}")
            return node
        if conversion in "di" and kind in _INTEGERS:
            values.append(text(argument))
        elif conversion == "s" and kind in {*_TEXT, *_INTEGERS, DType.BOOLEAN}:
            values.append(text(argument))
        elif conversion == "f" and kind in _NUMBERS:
            digits = int(spec["precision"] or 6)
            values.append(_exact_round(f"CAST({text(argument)} AS DOUBLE)", digits, ties_to_even=True))
        else:
            context.refuse("printf", node, name=node.name,
                           detail=f"%{conversion} of a {kind.value if kind else 'value'}")
            return node
    java_format = _PRINTF_SPEC.sub(lambda m: m[0][:-1] + "d" if m["conversion"] == "i" else m[0], pattern)
    context.rewrote("printf")
    call = f"format_string({', '.join([string(java_format, 'spark'), *values])})"
    nullable = [text(argument) for argument in arguments if not isinstance(argument, exp.Literal)]
    if not nullable:
        return spark(call)
    return spark(f"(CASE WHEN {' OR '.join(f'{value} IS NULL' for value in nullable)} THEN NULL ELSE {call} END)")


# DuckDB's strftime codes with the Java pattern Spark's date_format prints the same text for
_STRFTIME = {"a": "EEE", "A": "EEEE", "d": "dd", "-d": "d", "b": "MMM", "h": "MMM", "B": "MMMM", "m": "MM", "-m": "M",
             "y": "yy", "Y": "yyyy", "H": "HH", "-H": "H", "I": "hh", "-I": "h", "p": "a", "M": "mm", "-M": "m",
             "S": "ss", "-S": "s", "f": "SSSSSS", "g": "SSS", "j": "DDD", "-j": "D", "c": "yyyy-MM-dd HH:mm:ss",
             "x": "yyyy-MM-dd", "X": "HH:mm:ss"}
_STRFTIME_CODE = re.compile(r"%(-?[A-Za-z%])")


def _strftime(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``strftime(x, format)`` as Spark's date_format with a Java pattern printing the same text (sqlglot's
    mapping gets ``%j`` wrong and passes the codes it does not know through as literal text)."""
    if not isinstance(node, exp.TimeToStr) or node.args.get("zone") or node.args.get("culture"):
        return None
    fmt = _literal_string(node.args.get("format"))
    if fmt is None:
        context.refuse("strftime", node, name="strftime", detail="the format must be a string literal")
        return node
    pattern, literal, position = "", "", 0  # text between codes is quoted once a run: `''` would print a quote
    for match in _STRFTIME_CODE.finditer(fmt):
        literal += fmt[position:match.start()]
        code, position = match.group(1), match.end()
        if code == "%":
            literal += "%"
        elif code in _STRFTIME:
            pattern, literal = pattern + _java_literal(literal) + _STRFTIME[code], ""
        else:
            context.refuse("strftime", node, name="strftime", detail=f"%{code}")
            return node
    pattern += _java_literal(literal + fmt[position:])
    context.rewrote("strftime")
    return spark(f"date_format({text(node.this)}, {string(pattern, 'spark')})")


def _java_literal(literal: str) -> str:
    """Text a Java date pattern prints as it is: quoted, a quote doubled (the pattern's own syntax, not SQL's:
    the SQL literal holding the pattern is ``render.string``'s)."""
    return "'" + "''".join(literal.split("'")) + "'" if literal else ""


def _day_and_month_names(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``dayname``, ``monthname``: DuckDB's full names (Spark's functions of those names abbreviate)."""
    if not isinstance(node, (exp.Dayname, exp.Monthname)):
        return None
    context.rewrote("strftime")
    full = "EEEE" if isinstance(node, exp.Dayname) else "MMMM"
    short = "EEE" if isinstance(node, exp.Dayname) else "MMM"
    return spark(f"date_format({text(node.this)}, '{short if node.args.get('abbreviated') else full}')")


def _list_nulls(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """DuckDB's list_concat and flatten skip NULL lists, and list_distinct drops NULL elements (in an order of
    its hash table: only sorted is it the same on both engines); Spark's propagate or keep them."""
    if isinstance(node, exp.Flatten):
        context.rewrote("list_nulls")
        return spark(f"flatten(filter({text(node.this)}, e -> e IS NOT NULL))")
    if isinstance(node, exp.ArrayDistinct):
        if not isinstance(node.parent, exp.ArraySort):
            context.refuse("list_distinct", node, name="list_distinct")
            return node
        context.rewrote("list_nulls")
        return spark(f"array_distinct(filter({text(node.this)}, e -> e IS NOT NULL))")
    if isinstance(node, exp.ArrayConcat) and not isinstance(node.parent, exp.ArrayConcat):
        lists = [node.this, *node.expressions]
        kind = node.type if node.type is not None and node.type.this in (DType.ARRAY, DType.LIST) else next(
            (item.type for item in lists if item.type is not None and item.type.this in (DType.ARRAY, DType.LIST)),
            None)
        if kind is None:
            context.refuse("unknown_type", node, name="list_concat", detail="the type of the lists")
            return node
        context.rewrote("list_nulls")
        empty = f"CAST(array() AS {text(kind)})"
        return spark(f"concat({', '.join(f'coalesce({text(item)}, {empty})' for item in lists)})")
    return None


def _date_add_interval(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``date_add(x, INTERVAL …)``: x + the interval (a TIMESTAMP from a DATE, as DuckDB returns)."""
    if not isinstance(node, (exp.DateAdd, exp.DateSub)) or not isinstance(node.expression, exp.Interval):
        return None
    kind = _type(node.this)
    if kind not in _TIMESTAMPS and kind != DType.DATE:
        context.refuse("unknown_type", node, detail="date or timestamp?")
        return node
    context.rewrote("date_plus_interval")
    sign = "+" if isinstance(node, exp.DateAdd) else "-"
    return spark(f"(CAST({text(node.this)} AS TIMESTAMP) {sign} {text(node.expression)})")


def _regexp_split(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``regexp_split_to_array`` / ``str_split_regex``: Spark's split (trailing empty strings kept, as in DuckDB)."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() in ("regexp_split_to_array", "str_split_regex")
            and len(node.expressions) == 2):
        return None
    subject, pattern = node.expressions
    context.rewrote("regexp_split")
    return spark(f"split({text(subject)}, {text(pattern)}, -1)")


_JSON_LEAVES = {*_INTEGERS, *_TEXT, DType.BOOLEAN, DType.DATE}


def _to_json(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``to_json(list, struct or map)``: DuckDB writes NULL fields, Spark leaves them out unless told."""
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "to_json" and len(node.expressions) == 1):
        return None
    (value,) = node.expressions
    kind = value.type
    if kind is None or kind.this not in (DType.STRUCT, DType.ARRAY, DType.LIST, DType.MAP) or not _json_safe(kind):
        context.refuse("unknown_type" if kind is None or kind.this == DType.UNKNOWN else "to_json", node,
                       name="to_json")
        return node
    context.rewrote("to_json")
    return spark(f"to_json({text(value)}, map('ignoreNullFields', 'false'))")


def _json_safe(kind: exp.DataType) -> bool:
    """Whether both engines write every value of this (nested) type the same way in JSON."""
    if kind.this in (DType.STRUCT, DType.ARRAY, DType.LIST, DType.MAP):
        fields = [f.args.get("kind") if isinstance(f, exp.ColumnDef) else f for f in kind.expressions]
        return bool(fields) and all(isinstance(f, exp.DataType) and _json_safe(f) for f in fields)
    return kind.this in _JSON_LEAVES


def _date_plus_interval(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if not isinstance(node, (exp.Add, exp.Sub)):
        return None
    left, right = node.this, node.expression
    if isinstance(right, exp.Interval):
        operand = left
    elif isinstance(left, exp.Interval) and isinstance(node, exp.Add):
        operand, left, right = right, right, left
    else:
        return None
    kind = _type(operand)
    if kind in _TIMESTAMPS:
        return None
    if kind != DType.DATE:
        context.refuse("unknown_type", node, detail="date or timestamp?")
        return node
    context.rewrote("date_plus_interval")
    sign = "+" if isinstance(node, exp.Add) else "-"
    return spark(f"(CAST({text(operand)} AS TIMESTAMP) {sign} {text(right)})")


def _strptime(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``strptime(text, format)`` / ``try_strptime``: DuckDB's own parsing rules as Spark SQL (``strptime``: Java's
    date patterns read fields otherwise, and sqlglot's pattern leaves codes it does not know unquoted)."""
    if isinstance(node, exp.StrToTime):
        value, fmt, name = node.this, node.args.get("format"), "strptime"
    elif isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime" and len(node.expressions) == 2:
        (value, fmt), name = node.expressions, "try_strptime"
    else:
        return None
    written = _literal_string(fmt)
    if written is None:
        context.refuse("strptime", node, name=name, detail="the format must be a string literal")
        return node
    try:
        parsed = spark_strptime(text(value), written, try_=name == "try_strptime")
    except Unsupported as unsupported:
        context.refuse("strptime", node, name=name, detail=str(unsupported))
        return node
    context.rewrote("strptime")
    return spark(parsed)


def _quantile_cont(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    if not isinstance(node, exp.PercentileCont) or node.expression is None:
        return None
    if _type(node.this) == DType.DECIMAL:
        return None  # refused by the lint (median_decimal)
    context.rewrote("quantile_cont")
    return spark(f"percentile({text(node.this)}, {text(node.expression)})")


def _case_mapping(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``upper``/``lower`` (``ucase``/``lcase``): DuckDB's one-character-to-one mapping, as Spark's translate
    (Spark's own maps 'ß' to 'SS' and a final 'Σ' to 'ς', with a newer Unicode: see ``case_mapping``)."""
    if not isinstance(node, (exp.Upper, exp.Lower)):
        return None
    changed, mapped = duckdb_case_mapping("upper" if isinstance(node, exp.Upper) else "lower")
    context.rewrote("case_mapping")
    return spark(f"translate({text(node.this)}, {string(changed, 'spark')}, {string(mapped, 'spark')})")


def _ilike(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``a ILIKE b``: DuckDB compares the texts lower-cased by its own table (`'İ' ILIKE 'i'`, not `'ΑΣ' ILIKE
    'ας'`), Spark by its full mapping; so both sides are lower-cased as DuckDB does, and compared with LIKE."""
    if not isinstance(node, exp.ILike):
        return None
    changed, mapped = duckdb_case_mapping("lower")
    table = f"{string(changed, 'spark')}, {string(mapped, 'spark')}"
    context.rewrote("case_mapping")
    return exp.Like(this=spark(f"translate({text(node.this)}, {table})"),
                    expression=spark(f"translate({text(node.expression)}, {table})"), negate=node.args.get("negate"))


def _chr(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``chr(n)``: DuckDB's character of code point n; Spark's chr takes n modulo 256."""
    if not isinstance(node, exp.Chr) or len(node.expressions) != 1 or node.args.get("charset"):
        return None
    (argument,) = node.expressions
    context.rewrote("chr")
    literal = _literal_int(argument)
    if literal is not None and 0 <= literal < 0x110000 and not 0xD800 <= literal <= 0xDFFF:
        return spark(string(chr(literal), "spark"))
    n = f"CAST({text(argument)} AS BIGINT)"

    def byte(lead: int, shift: int) -> str:  # one byte of the UTF-8 encoding (0x80 and up: two hex digits)
        bits = f"shiftright({n}, {shift})" if shift else n
        return f"hex({lead} + ({bits} & 63))" if lead == 0x80 else f"hex({lead} + {bits})"

    encoded = {2: [byte(0xC0, 6), byte(0x80, 0)], 3: [byte(0xE0, 12), byte(0x80, 6), byte(0x80, 0)],
               4: [byte(0xF0, 18), byte(0x80, 12), byte(0x80, 6), byte(0x80, 0)]}
    utf8 = {size: f"decode(unhex(concat({', '.join(parts)})), 'UTF-8')" for size, parts in encoded.items()}
    return spark(f"(CASE WHEN {n} < 0 OR {n} > 1114111 OR {n} BETWEEN 55296 AND 57343 "
                 f"THEN raise_error(concat('Invalid UTF8 Codepoint ', {n})) WHEN {n} < 128 THEN chr({n}) "
                 f"WHEN {n} < 2048 THEN {utf8[2]} WHEN {n} < 65536 THEN {utf8[3]} ELSE {utf8[4]} END)")


def _week(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``week``/``weekofyear`` (the ISO week) and ``yearweek``: BIGINT, as DuckDB types them."""
    if isinstance(node, (exp.Week, exp.WeekOfYear)) and not node.args.get("mode"):
        context.rewrote("week")
        return spark(f"CAST(weekofyear({text(node.this)}) AS BIGINT)")
    if isinstance(node, exp.Anonymous) and node.name.lower() == "yearweek" and len(node.expressions) == 1:
        context.rewrote("week")
        value = text(node.expressions[0])
        return spark(f"CAST(extract(YEAROFWEEK FROM {value}) * 100 + weekofyear({value}) AS BIGINT)")
    return None


_LIST_POSITION = ("list_position", "list_indexof", "array_position", "array_indexof")


def _list_functions(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``list_reverse`` and ``list_position`` (DuckDB's position is an INTEGER, NULL when the element is
    missing, and finds a NULL element; Spark's a BIGINT, 0 when missing, and finds no NULL)."""
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("list_reverse", "array_reverse") and len(
            node.expressions) == 1:
        context.rewrote("list_functions")
        return spark(f"reverse({text(node.expressions[0])})")
    if isinstance(node, exp.ArrayReverse):
        context.rewrote("list_functions")
        return spark(f"reverse({text(node.this)})")
    if isinstance(node, exp.ArrayPosition):
        values, element = node.this, node.expression
    elif isinstance(node, exp.Anonymous) and node.name.lower() in _LIST_POSITION and len(node.expressions) == 2:
        values, element = node.expressions
    else:
        return None
    context.rewrote("list_functions")
    found = f"transform({text(values)}, __fd_e -> __fd_e <=> {text(element)})"
    return spark(f"CAST(NULLIF(array_position({found}, true), 0) AS INT)")


_END_OF_TEXT = r"\z"  # Java's `$` also matches before a final line break


def _regexp_full_match(node: exp.Expr, context: TranslationContext) -> exp.Expr | None:
    """``regexp_full_match(s, pattern[, options])``: the whole text matches (Java's ``$`` also matches before a
    final line break, so the end is ``\\z``)."""
    if not isinstance(node, exp.RegexpFullMatch):
        return None
    options_node = node.args.get("options")
    options = _literal_string(options_node) if options_node is not None else ""
    if options is None or set(options) - set("ic"):
        context.refuse("regexp_full_match", node, name="regexp_full_match",
                       detail="the options must be a string literal of i and c")
        return node
    flags = _case_flags(options)
    pattern = node.expression
    literal = _literal_string(pattern)
    head, tail = string(flags + "^(?:", "spark"), string(")" + _END_OF_TEXT, "spark")
    anchored = (string(f"{flags}^(?:{literal}){_END_OF_TEXT}", "spark") if literal is not None
                else f"concat({head}, {text(pattern)}, {tail})")
    context.rewrote("regexp_full_match")
    return spark(f"({text(node.this)} RLIKE {anchored})")


_AGGREGATE_REWRITES: list[Callable[[exp.Expr, TranslationContext], AggregateSql | None]] = [
    _ordered_list, _avg_decimal,
]
_REWRITES = [
    _division, _regexp_replace, _aggregate, _date_diff, _day_of_week, _epoch, _bracket, _length,
    _round_double, _cast_text_to_integer, _cast_number_to_integer, _date_plus_interval, _strptime, _quantile_cont,
    _list_extract, _concat, _parse_filename, _printf, _to_json, _strftime, _day_and_month_names, _list_nulls,
    _date_add_interval, _regexp_split, _regexp_options, _case_mapping, _ilike, _chr, _week, _list_functions, _regexp_full_match,
]
