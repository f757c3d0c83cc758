"""DuckDB's ``strptime`` parsing rules as one Spark SQL expression (rule ``strptime``).

DuckDB does not parse with a date pattern library: it skips whitespace around the text, reads
each numeric field greedily up to a width of its own (``%Y`` four digits, ``%f`` six, ``%j``
three, the others two) and never backtracks, matches a run of whitespace in the format to a
run of whitespace in the text (at least one character), compares other text exactly, month
names and AM/PM case-insensitively, checks each field's range, and only then builds the
timestamp (an invalid date such as February 30 is an error too). So '2026123' with
``%Y%m%d`` is 2026-12-03, '26-1-3' with ``%Y-%m-%d`` the year 26, '2026-012-03' an error.

Java's date patterns (Spark's ``to_timestamp``) read fields otherwise, so flowdeck has Spark
do what DuckDB does: one Java regular expression over the whole text, each field a
possessive group (``\\d{1,4}+`` gives back no digit, as DuckDB's reader does not), the same
range checks, and ``try_make_timestamp`` from the groups. What DuckDB refuses is NULL for
``try_strptime`` and an error (``raise_error``, DuckDB's words) for ``strptime``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flowdeck.engine.sql.render import string


@dataclass(frozen=True)
class _Field:
    """One format code: the value it sets, its regex group, and the Spark SQL of its number from the text ``g``."""

    sets: str  # year, month, day, yday, hour, hour12, ampm, minute, second, fraction
    group: str
    value: str = "CAST({g} AS INT)"
    low: int | None = None
    high: int | None = None


_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_ABBREVIATED = "".join(month[:3] for month in _MONTHS)  # 'janfebmar…': a name's position / 3 is its month


def _digits(width: int) -> str:
    return rf"(\d{{1,{width}}}+)"  # possessive: DuckDB reads up to `width` digits and gives none back


_FIELDS = {
    "Y": _Field("year", _digits(4)),
    "m": _Field("month", _digits(2), low=1, high=12),
    "d": _Field("day", _digits(2), low=1, high=31),
    "j": _Field("yday", _digits(3), low=1, high=366),
    "H": _Field("hour", _digits(2), low=0, high=23),
    "I": _Field("hour12", _digits(2), low=1, high=12),
    "M": _Field("minute", _digits(2), low=0, high=59),
    "S": _Field("second", _digits(2), low=0, high=59),
    "f": _Field("fraction", _digits(6), value="CAST(rpad({g}, 6, '0') AS INT)"),
    "g": _Field("fraction", _digits(3), value="CAST(rpad({g}, 3, '0') AS INT) * 1000"),
    "b": _Field("month", "((?i:" + "|".join(month[:3] for month in _MONTHS) + "))",
                value=f"CAST((instr('{_ABBREVIATED}', lower({{g}})) + 2) div 3 AS INT)"),
    "B": _Field("month", "((?i:" + "|".join(_MONTHS) + "))",
                value="CAST(array_position(array(" + ", ".join(f"'{m}'" for m in _MONTHS) + "), lower({g})) AS INT)"),
    "p": _Field("ampm", "((?i:am|pm))", value="CASE WHEN lower({g}) = 'pm' THEN 1 ELSE 0 END"),
}
for _code in "mdjHIMS":
    _FIELDS["-" + _code] = _FIELDS[_code]  # `%-m`: the same field, read the same way (up to two digits)
_FIELDS["h"] = _FIELDS["b"]
_COMPOUND = {"x": "%Y-%m-%d", "X": "%H:%M:%S", "c": "%Y-%m-%d %H:%M:%S"}  # DuckDB's, as it reads them
_CODE = re.compile(r"%(-?[A-Za-z%])")
_SPACES = re.compile(r"[ \t\n\v\f\r]+")  # DuckDB's whitespace (ASCII only), which Java's \s also is


class Unsupported(ValueError):
    """A format flowdeck cannot parse on Spark as DuckDB does (the message names what)."""


def _pieces(fmt: str) -> list[tuple[str, str]]:
    """The format as ("code", letter) and ("text", literal) pieces, compound codes expanded."""
    pieces: list[tuple[str, str]] = []
    position = 0
    for match in _CODE.finditer(fmt):
        pieces.append(("text", fmt[position:match.start()]))
        code, position = match.group(1), match.end()
        if code == "%":
            pieces.append(("text", "%"))
        elif code in _COMPOUND:
            pieces.extend(_pieces(_COMPOUND[code]))
        elif code in _FIELDS:
            pieces.append(("code", code))
        else:
            raise Unsupported(f"%{code}")
    pieces.append(("text", fmt[position:]))
    return [piece for piece in pieces if piece[1]]


def _literal_regex(literal: str) -> str:
    """Format text as Java regex: a run of whitespace matches a run of it, other characters themselves."""
    out: list[str] = []
    for part in re.split(f"({_SPACES.pattern})", literal):
        if not part:
            continue
        if _SPACES.fullmatch(part):
            out.append(r"\s++")
        else:  # Java's metacharacters are ASCII; a backslash before one that is not a letter or digit makes it literal
            out.append("".join(char if char.isalnum() or not char.isascii() else "\\" + char for char in part))
    return "".join(out)


def spark_strptime(value_sql: str, fmt: str, *, try_: bool) -> str:
    """Spark SQL parsing the text ``value_sql`` with DuckDB's ``fmt`` as DuckDB's strptime (``try_``: try_strptime)
    does, giving a TIMESTAMP; raises ``Unsupported`` for a format it cannot parse the same way."""
    if fmt != fmt.strip(" \t\n\v\f\r"):
        raise Unsupported("a format starting or ending with a space")
    pieces = _pieces(fmt)
    regex, fields = r"^\s*+", []
    for kind, piece in pieces:
        if kind == "text":
            regex += _literal_regex(piece)
        else:
            regex += _FIELDS[piece].group
            fields.append(_FIELDS[piece])
    regex += r"\s*+\z"
    sets = [field.sets for field in fields]
    repeated = sorted({name for name in sets if sets.count(name) > 1})
    if repeated:
        raise Unsupported(f"the {repeated[0]} given twice")
    if "yday" in sets and ({"month", "day"} & set(sets)):
        raise Unsupported("a day of the year with a month or a day")
    if "hour" in sets and ("hour12" in sets or "ampm" in sets):
        raise Unsupported("%H with %I or %p")
    if "ampm" in sets and "hour12" not in sets:
        raise Unsupported("%p without %I")
    pattern = string(regex, "spark")
    at = {name: index for index, name in enumerate(sets)}

    def get(name: str, default: str) -> str:  # a field's number, from the groups the regex captured
        return fields[at[name]].value.format(g=f"__fd_g[{at[name]}]") if name in at else default

    year = get("year", "1900")
    # Spark's make_timestamp takes the years 1 to 9999; DuckDB reads the year 0 too (1 BC): the calendar repeats
    # every 400 years, so the year 400 is built and moved back
    shifted = f"CASE WHEN {year} = 0 THEN 400 ELSE {year} END"
    checks = [f"{get(field.sets, '0')} BETWEEN {field.low} AND {field.high}" for field in fields
              if field.low is not None]
    if "yday" in at:  # day 366 of a year of 365 days is refused too
        checks.append(f"{get('yday', '1')} <= dayofyear(make_date({shifted}, 12, 31))")
    hour = get("hour", "0")
    if "hour12" in at:  # 12 AM is midnight; without %p the hour is read as it is
        hour12 = get("hour12", "0")
        hour = f"(CASE WHEN {hour12} = 12 THEN 0 ELSE {hour12} END + 12 * {get('ampm', '0')})" if "ampm" in at \
            else hour12
    seconds = get("second", "0")
    if "fraction" in at:
        seconds = f"CAST(({seconds} * 1000000 + {get('fraction', '0')}) / 1000000.0 AS DECIMAL(8, 6))"
    month, day = (1, 1) if "yday" in at else (get("month", "1"), get("day", "1"))
    built = f"try_make_timestamp({shifted}, {month}, {day}, {hour}, {get('minute', '0')}, {seconds})"
    if "yday" in at:
        built += f" + make_dt_interval({get('yday', '1')} - 1)"
    built = f"({built} - make_ym_interval(CASE WHEN {year} = 0 THEN 400 ELSE 0 END, 0))"
    checked = f"CASE WHEN {' AND '.join(checks)} THEN {built} END" if checks else built
    # the groups hold digits or ASCII letters only, so a comma keeps them apart
    groups = f"split(regexp_replace(__fd_s, {pattern}, {string(','.join(f'${i + 1}' for i in range(len(fields))), 'spark')}), ',')"
    parsed = f"CASE WHEN __fd_s RLIKE {pattern} THEN element_at(transform(array({groups}), __fd_g -> {checked}), 1) END"
    if not try_:  # DuckDB's strptime fails on text it cannot parse (and on an invalid date): so does this
        failure = (f"raise_error(concat('Could not parse string \"', __fd_s, '\" according to format specifier \"', "
                   f"{string(fmt, 'spark')}, '\"'))")
        parsed = f"coalesce({parsed}, CASE WHEN __fd_s IS NOT NULL THEN {failure} END)"
    # the text is bound once (a lambda over a one-element array): it may be an expression, even a random one
    return f"element_at(transform(array(CAST({value_sql} AS STRING)), __fd_s -> {parsed}), 1)"
