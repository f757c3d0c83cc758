"""The catalogue of DuckDB constructs that mean something else on Spark, and what flowdeck does about each.

Every rule is either a ``rewrite`` (the transpiler changes the Spark SQL so the result is the
same as on DuckDB) or a ``refuse`` (the lint stops the pipeline before it runs, naming the
construct, the file and line, and a Spark-safe alternative). Some rewrites need a column's
type; when the type cannot be known they refuse instead. docs/spark.md is generated from
this list (``python -m flowdeck.engine.backends.spark.rules``).
"""

from __future__ import annotations

from dataclasses import dataclass


ALWAYS = "nothing: it is always rewritten"


@dataclass(frozen=True)
class SparkRule:
    """One construct: what it is, what flowdeck does on Spark, why, and what to write when it is refused.

    ``alternative`` is the hint a refusal prints, an instruction on its own (``use `md5(x)` ...``);
    a rewrite's is what to write when flowdeck cannot rewrite it (``ALWAYS`` when it always can).
    """

    id: str
    construct: str
    action: str  # "rewrite" or "refuse"
    why: str
    alternative: str


_RULES = [
    # -- rewrites: the same result on both engines -------------------------------------------
    SparkRule("division", "`a / b`", "rewrite",
              "DuckDB divides as DOUBLE and returns inf/NaN for a zero divisor; Spark keeps DECIMAL and "
              "raises DIVIDE_BY_ZERO under ANSI mode",
              ALWAYS),
    SparkRule("regexp_replace", "`regexp_replace(s, pattern, replacement[, options])`", "rewrite",
              "without the `g` option DuckDB replaces the first match only, Spark every match; "
              "back-references are `\\1` in DuckDB and `$1` in Spark",
              "write the pattern, the replacement and the options (`g`, `i`, `c`) as string literals"),
    SparkRule("ordered_list_agg", "`list(x ORDER BY k)`, `array_agg(x ORDER BY k)`, `string_agg(x, sep ORDER BY k)`",
              "rewrite", "Spark's collect_list drops the ORDER BY and the NULL elements", ALWAYS),
    SparkRule("length_of_list_agg", "`len(array_agg(x))`, `len(list(x))`, `array_length(list(x))`", "rewrite",
              "only the number of elements is used, so their order does not matter; but Spark's collect_list "
              "drops the NULL elements DuckDB's array_agg keeps", ALWAYS),
    SparkRule("date_diff", "`date_diff('unit', a, b)` / `datediff`", "rewrite",
              "DuckDB counts unit boundaries crossed, Spark counts whole units elapsed",
              "compute other units than year, quarter, month, day, hour, minute and second from "
              "`epoch(b) - epoch(a)`"),
    SparkRule("day_of_week", "`dayofweek`, `isodow`, `date_part('dow' | 'isodow', …)`", "rewrite",
              "Spark numbers Sunday 1 … Saturday 7, DuckDB Sunday 0 … Saturday 6 (isodow Monday 1 … Sunday 7)",
              ALWAYS),
    SparkRule("epoch", "`epoch(ts)`, `epoch_ms(ts)`, `epoch_us(ts)`", "rewrite",
              "sqlglot maps epoch to UNIX_TIMESTAMP (drops fractions) and epoch_ms(ts) to TIMESTAMP_MILLIS "
              "(the wrong direction)",
              "cast the argument so its type is known: `epoch_ms(ts::TIMESTAMP)`"),
    SparkRule("list_index", "`list[i]`, `list[a:b]`, `str[i]`", "rewrite",
              "sqlglot does not shift computed indexes from 1-based to 0-based, and Spark raises on an "
              "index out of range where DuckDB returns NULL",
              "cast the list or text so its type is known (`x::VARCHAR[]`), or use `list_extract(list, i)`; "
              "write slice bounds as non-negative integer literals"),
    SparkRule("length_of_list", "`len(list)`", "rewrite",
              "sqlglot turns len into LENGTH, which Spark only accepts for strings",
              "write `array_length(list)` or `length(text)`"),
    SparkRule("avg_decimal", "`avg(decimal)`, `sum(decimal)`", "rewrite",
              "DuckDB averages DECIMALs into a DOUBLE, Spark into a DECIMAL with 4 more digits; DuckDB sums "
              "DECIMAL(p, s) into DECIMAL(38, s), Spark into DECIMAL(p + 10, s)",
              ALWAYS),
    SparkRule("round_double", "`round(double, n)`, `floor(double)`, `ceil(double)`", "rewrite",
              "Spark rounds a DOUBLE's shortest decimal text (round(6.85, 1) = 6.9), DuckDB its binary value (6.8); "
              "Spark's floor and ceil return BIGINT where DuckDB keeps DOUBLE",
              "give the digits as an integer literal: `round(x, 2)`"),
    SparkRule("cast_text_to_integer", "`CAST(text AS INTEGER)` / `TRY_CAST` to an integer type", "rewrite",
              "DuckDB rounds '12.5' to 13, Spark returns NULL (TRY_CAST) or fails (CAST)",
              ALWAYS),
    SparkRule("cast_number_to_integer", "`CAST(double AS INTEGER)`, `CAST(decimal AS BIGINT)` / `TRY_CAST` "
              "to an integer type", "rewrite",
              "DuckDB rounds (a DOUBLE half to even, a DECIMAL half away from zero: 43.5 → 44), Spark truncates (43)",
              ALWAYS),
    SparkRule("concat", "`concat(a, b, …)` of other types than text", "rewrite",
              "DuckDB skips NULLs and turns numbers into text; sqlglot's Spark SQL coalesces a number with '', "
              "which Spark fails to cast",
              "cast the operands so their types are known: `concat(x::VARCHAR, …)`"),
    SparkRule("parse_filename", "`parse_filename(path[, trim_extension[, separator]])`", "rewrite",
              "Spark has no parse_filename: the last part of the path is cut with a regular expression",
              "give trim_extension as `true` or `false` and the separator as a string literal"),
    SparkRule("printf", "`printf(format, …)`", "rewrite",
              "Spark's printf prints `null` where DuckDB's returns NULL, rounds a DOUBLE's shortest decimal text "
              "half up where DuckDB rounds its binary value half to even (`printf('%.1f', 0.25)`: '0.3' vs "
              "'0.2'), and has no `%i`",
              "write the format as a string literal, one `%d`/`%i` (integers), `%s` (text, integers, booleans) "
              "or `%f` (numbers) an argument; format a timestamp with `strftime` first"),
    SparkRule("to_json", "`to_json(list, struct or map)`", "rewrite",
              "Spark leaves NULL fields out of the JSON text where DuckDB writes `null`",
              "keep to text, integer, boolean and date fields (DuckDB and Spark write doubles, decimals and "
              "timestamps differently in JSON): cast the others to VARCHAR first"),
    SparkRule("strftime", "`strftime(x, format)`, `dayname(x)`, `monthname(x)`", "rewrite",
              "sqlglot's Java pattern prints `%j` with two digits and passes the codes it does not know through as "
              "text; Spark's dayname and monthname abbreviate ('Thu', 'Jan') where DuckDB's write the full name",
              "write the format as a string literal using the codes %a %A %d %-d %b %h %B %m %-m %y %Y %H %-H %I %-I "
              "%p %M %-M %S %-S %f %g %j %-j %c %x %X %% (for a weekday number use `dayofweek(x)` or `isodow(x)`)"),
    SparkRule("list_nulls", "`list_concat(a, b)`, `flatten(lists)`, `list_sort(list_distinct(l))`", "rewrite",
              "DuckDB skips a NULL list in list_concat and flatten, and list_distinct drops NULL elements; Spark "
              "returns NULL, or keeps the NULL element", ALWAYS),
    SparkRule("regexp_split", "`regexp_split_to_array(s, pattern)`, `str_split_regex(s, pattern)`", "rewrite",
              "Spark calls it split", ALWAYS),
    SparkRule("date_plus_interval", "`date ± INTERVAL …`, `date_add(date, INTERVAL …)`", "rewrite",
              "DuckDB returns a TIMESTAMP, Spark a DATE",
              "cast the operand so its type is known: `d::DATE + INTERVAL 1 DAY`"),
    SparkRule("strptime", "`strptime(text, format)`, `try_strptime(text, format)`", "rewrite",
              "Spark parses with Java date patterns, which read fields otherwise: DuckDB reads each number up to a "
              "width of its own (`%Y` four digits, `%j` three, `%f` six, the others two) without backtracking "
              "('2026123' with `%Y%m%d` is 2026-12-03, '26-1-3' the year 26), skips whitespace around the text and "
              "reads a run of it as one space; flowdeck has Spark parse the same way (one regular expression, the "
              "same range checks), NULL where try_strptime gives NULL and an error where strptime fails",
              "write the format as a string literal using the codes %Y %m %-m %d %-d %H %-H %I %-I %p %M %-M %S %-S %f %g %j "
              "%-j %b %h %B %c %x %X %% (for a two-digit year "
              "`%y` write `%Y` with the century, or parse `'20' || text`; weekday names and numbers, week numbers, "
              "`%z` and `%Z` are refused, and so are a field given twice, `%j` with a month or day, `%p` without "
              "`%I`, and `%H` with `%I` or `%p`)"),
    SparkRule("case_mapping", "`upper(s)`, `lower(s)`, `ucase(s)`, `lcase(s)`, `a ILIKE b`", "rewrite",
              "DuckDB maps each character on its own (`upper('ß')` = 'ẞ', `lower('ΑΣ')` = 'ασ'); Spark uses the "
              "full mappings of its Unicode library ('SS', 'ας', 'i̇' for `lower('İ')`) and a newer Unicode: "
              "flowdeck has Spark `translate` with DuckDB's own table", ALWAYS),
    SparkRule("chr", "`chr(n)`", "rewrite",
              "DuckDB returns the character of code point n, Spark the character of n modulo 256", ALWAYS),
    SparkRule("week", "`week(d)`, `weekofyear(d)`, `yearweek(d)`", "rewrite",
              "Spark calls it weekofyear and returns an INTEGER where DuckDB returns a BIGINT; yearweek is "
              "the ISO year times 100 plus the ISO week", ALWAYS),
    SparkRule("list_functions", "`list_reverse(l)`, `list_position(l, x)` / `list_indexof`, `array_position`",
              "rewrite",
              "Spark calls list_reverse reverse; its array_position returns a BIGINT, 0 for a missing element and "
              "NULL when looking for NULL, where DuckDB's list_position returns an INTEGER, NULL, and the NULL "
              "element's position", ALWAYS),
    SparkRule("regexp_options", "`regexp_matches(s, p, options)`, `regexp_extract(s, p, group, options)`, "
              "`regexp_extract_all(s, p, group, options)`", "rewrite",
              "sqlglot drops the options (`'i'` matched case-sensitively on Spark); they become the pattern's inline "
              "flags, `(?iu)` for `i` (Java's `(?i)` alone folds only ASCII letters, RE2 all of Unicode)",
              "give the options as a string literal of `i` and `c`"),
    SparkRule("regexp_full_match", "`regexp_full_match(s, pattern[, options])`", "rewrite",
              "Spark has no regexp_full_match: the pattern is anchored for RLIKE (at `\\z`, since Java's `$` "
              "also matches before a final line break)",
              "give the options as a string literal of `i` and `c`"),
    SparkRule("quantile_cont", "`quantile_cont(x, q)`", "rewrite",
              "sqlglot emits PERCENTILE_CONT with the wrong number of arguments",
              ALWAYS + " (over a DECIMAL it is refused, see median_decimal)"),
    SparkRule("qualify", "`QUALIFY`", "rewrite",
              "sqlglot moves QUALIFY into a subquery that leaks a `_w` column through `SELECT *`",
              ALWAYS + " (Spark 4 runs QUALIFY natively)"),
    SparkRule("output_columns", "every output column of a step", "rewrite",
              "the engines type some results differently (`len`, `length`, `strpos`, `date_part`: BIGINT on "
              "DuckDB, INT on Spark; `//`; a CSV reader's integers) and name unnamed columns differently",
              "name each output column, and list the columns rather than `*` where the engines would order "
              "them differently (each column gets DuckDB's name and type; an integer sum, HUGEINT on DuckDB, is "
              "BIGINT on Spark, which has no wider integer)"),
    SparkRule("file_function",
              "`read_csv(…)`, `read_csv_auto(…)`, `read_parquet(…)`, `read_json(…)`, `read_ndjson(…)`, a list of "
              "files, `FROM 'file.parquet'` in a transform", "rewrite",
              "Spark has no such table functions: the files are read by the Spark reader an extract step uses "
              "(same options, DuckDB's column types; relative paths in the project, so on a cluster use paths "
              "it sees: `s3a://…`)",
              "use literal paths and the reader options of rule `source_option`; `read_text`, `read_blob`, "
              "`read_xlsx` and `read_json_objects` have no Spark reader: declare the files as an extract step"),
    # -- refusals: no faithful Spark translation ---------------------------------------------
    SparkRule("unordered_list_agg", "`list(x)`, `array_agg(x)`, `string_agg(x, sep)` without ORDER BY", "refuse",
              "the order of the elements depends on how Spark partitions the data",
              "add ORDER BY inside the aggregate: `list(x ORDER BY x)`"),
    SparkRule("nondeterministic_pick", "`any_value`, `first`, `last`, `arbitrary` (aggregates)", "refuse",
              "which row is picked depends on how Spark partitions the data",
              "use `min(x)`, `max(x)`, or `arg_min(x, key)` / `arg_max(x, key)`"),
    SparkRule("nondeterministic_in_aggregate", "`random()`, `uuid()`, `gen_random_uuid()` inside an aggregate "
              "(`count(DISTINCT uuid())`)", "refuse",
              "Spark refuses a non-deterministic expression as an aggregate's argument "
              "(AGGREGATE_FUNCTION_WITH_NONDETERMINISTIC_EXPRESSION)",
              "compute the value in a subquery first: `SELECT min(r) FROM (SELECT random() AS r FROM t)`"),
    SparkRule("limit_without_order", "`LIMIT` / `OFFSET` without ORDER BY", "refuse",
              "which rows are kept depends on how Spark partitions the data",
              "add an ORDER BY that makes the kept rows unique"),
    SparkRule("json_extract", "`json_extract(j, path)`, `j -> path`", "refuse",
              "DuckDB returns JSON (strings keep their quotes), Spark's get_json_object returns unquoted text",
              "use `json_extract_string(j, path)` or `j ->> path` (text on both engines; cast it if needed)"),
    SparkRule("double_to_text", "`CAST(double AS VARCHAR)` (also `::TEXT`, a division `a / b`, and `||` or "
              "`concat` of a double)", "refuse",
              "the engines print floating-point numbers differently ('7.4e-05' vs '7.4E-5', '10663000.0' vs "
              "'1.0663E7')",
              "format the number: `printf('%.2f', x)` or `CAST(x AS DECIMAL(18, 2))::VARCHAR`"),
    SparkRule("nested_to_text", "`CAST(list, struct or map AS VARCHAR)`, `||` or `concat` of one", "refuse",
              "the engines print lists, structs and maps differently (`{'a': 1}` vs `{1}`, `NULL` vs `null`)",
              "build the text from the elements: `array_to_string(list, ',')`, `s.a || ',' || s.b`"),
    SparkRule("median_decimal", "`median`, `quantile_cont`, `quantile_disc` over DECIMAL; `quantile_disc`", "refuse",
              "DuckDB keeps the DECIMAL type and interpolates in it; Spark returns a DOUBLE",
              "cast to DOUBLE first: `median(x::DOUBLE)` / `quantile_cont(x::DOUBLE, q)`"),
    SparkRule("list_distinct", "`list_distinct(l)` / `array_distinct(l)` not sorted", "refuse",
              "DuckDB returns the distinct elements in the order of its hash table, Spark in the order they first "
              "occur", "sort them: `list_sort(list_distinct(l))`"),
    SparkRule("hash", "`hash(x)`", "refuse",
              "the engines use different hash functions", "use `md5(x)` or `sha256(x)` (the same on both)"),
    SparkRule("unnamed_output", "an unnamed expression in the step's output (`SELECT a + 1 FROM …`) whose name "
              "flowdeck cannot find", "refuse",
              "each engine names an unnamed column after the expression in its own way; flowdeck gives it "
              "DuckDB's name when the input columns are known",
              "name it: `a + 1 AS next_a`"),
    SparkRule("timestamptz", "`TIMESTAMPTZ`, `AT TIME ZONE`", "refuse",
              "DuckDB renders time zones in the machine's zone, Spark in the session's (UTC)",
              "keep timestamps as TIMESTAMP in UTC"),
    SparkRule("table_function_range", "`range(…)` / `generate_series(…)` in FROM", "refuse",
              "Spark's range names its column `id` and sqlglot emits invalid SQL for an alias list",
              "write `SELECT unnest(generate_series(a, b)) AS x`"),
    SparkRule("duckdb_only_syntax",
              "`UNION BY NAME`, `PIVOT`/`UNPIVOT`, `COLUMNS(…)`, `* REPLACE`, `* RENAME`, `ASOF`/`POSITIONAL JOIN`, "
              "list comprehensions, `SIMILAR TO`", "refuse",
              "Spark SQL has no equivalent syntax",
              "spell it out: explicit column lists, `CASE WHEN` for pivots, a window function for ASOF"),
    SparkRule("several_unnest", "more than one `unnest` in one SELECT", "refuse",
              "DuckDB zips the lists, Spark allows one generator per SELECT",
              "unnest one list per SELECT (nest a second SELECT for the next list)"),
    SparkRule("unnest_in_expression", "`unnest(list)` inside an expression (`upper(unnest(l))`, "
              "`unnest(l)::VARCHAR`)", "refuse",
              "Spark runs a generator only as a column of its own, and fails at run time otherwise",
              "unnest in a subquery and use the value outside: `SELECT upper(x) FROM (SELECT unnest(l) AS x FROM t)`"),
    SparkRule("reverse", "`reverse(text)`", "refuse",
              "DuckDB reverses grapheme clusters, and the clusters of some scripts are not the same in Spark's Java "
              "(Devanagari 'क्षि' is one cluster in DuckDB, two in Java 17): which text reverses the same cannot be "
              "known before the data is read, so all of it is refused, plain ASCII included",
              "reverse the text on DuckDB (run the step there), or reverse a list with `list_reverse(l)`"),
    SparkRule("source_option", "an extract step's reader option Spark's reader cannot honour the same way", "refuse",
              "Spark's CSV and JSON readers differ from DuckDB's sniffer for it (and infer no dates from JSON)",
              "use only these options: csv: header, delim/sep, quote, escape, nullstr, all_varchar, columns; "
              "json: `columns` (required) and format (newline_delimited or array); parquet: none"),
    SparkRule("output_type", "an output column of a DuckDB type Spark has no type for (INTERVAL, TIME, UUID, "
              "unsigned integers, ENUM, UNION, BIT, VARINT)", "refuse",
              "the output schema must be the same on both engines, and Spark cannot hold that type",
              "cast the column to a type both engines have: `CAST(x AS BIGINT)`, `x::VARCHAR`"),
    SparkRule("python_step", "a `kind: python` step whose function declares no Spark implementation", "refuse",
              "the function works on Arrow tables or DuckDB relations on this machine, not on the cluster's data",
              "give the function a Spark implementation: `function.spark = other_function`, taking and returning "
              "Spark DataFrames (docs/concepts.md)"),
    SparkRule("plugin_step", "a step kind from a plugin that does not declare the Spark engine", "refuse",
              "the plugin says it runs on other engines only (`engines` of its StepKind)",
              "run the pipeline on DuckDB, or ask the plugin's authors for Spark support"),
    SparkRule("unknown_function", "a function Spark does not have", "refuse",
              "Spark would fail when the step runs", "rewrite it with functions both engines have"),
    SparkRule("unknown_type", "a construct whose meaning depends on a type flowdeck cannot determine", "refuse",
              "flowdeck refuses rather than guess (for example when the source files are missing)",
              "cast the operand explicitly (`x::INTEGER[]`, `x::TIMESTAMP`)"),
]

RULES: dict[str, SparkRule] = {rule.id: rule for rule in _RULES}


def rules_markdown() -> str:
    """The rules as two Markdown tables (rewritten, refused), as published in docs/spark.md."""
    lines: list[str] = []
    for action, title, last in (("rewrite", "Rewritten so the result is the same", "when it cannot be rewritten"),
                                ("refuse", "Refused before the run", "Spark-safe alternative")):
        lines += [f"### {title}", "", f"| rule | construct | why | {last} |", "|---|---|---|---|"]
        for rule in _RULES:
            if rule.action == action:
                cells = [f"`{rule.id}`", rule.construct, rule.why, rule.alternative]
                lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(rules_markdown(), end="")
