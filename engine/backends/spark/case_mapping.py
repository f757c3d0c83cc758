"""DuckDB's upper and lower case mappings, as the character lists Spark's ``translate`` maps with.

DuckDB maps each code point on its own (Unicode's simple case mapping, as its utf8proc has it:
``upper('ß')`` is 'ẞ', ``lower('ΑΣ')`` is 'ασ'); Spark's upper and lower use the full,
context-dependent mappings of its ICU ('SS', 'ας') and a newer Unicode. So flowdeck computes
DuckDB's mapping once from the DuckDB in this process and has Spark ``translate`` with it.
"""

from __future__ import annotations

from functools import lru_cache

import duckdb

_SURROGATES = (0xD800, 0xDFFF)  # no character: DuckDB's chr refuses them


@lru_cache(maxsize=2)
def duckdb_case_mapping(function: str) -> tuple[str, str]:
    """Every character DuckDB's ``function`` (upper or lower) changes, and what it changes each to (one
    character each, in the same order): the ``from`` and ``to`` of Spark's ``translate``."""
    if function not in ("upper", "lower"):
        raise ValueError(f"not a case mapping: {function}")
    connection = duckdb.connect()
    try:
        changed, mapped = connection.execute(
            f"SELECT string_agg(chr(i::INTEGER), '' ORDER BY i), string_agg({function}(chr(i::INTEGER)), '' ORDER BY i) "
            f"FROM range(1, 1114112) AS r(i) WHERE (i < {_SURROGATES[0]} OR i > {_SURROGATES[1]}) "
            f"AND {function}(chr(i::INTEGER)) <> chr(i::INTEGER)").fetchone() or ("", "")
    finally:
        connection.close()
    if len(changed) != len(mapped):  # translate maps one character to one: a longer mapping cannot be kept
        raise RuntimeError(f"DuckDB's {function} maps a character to several")
    return changed, mapped
