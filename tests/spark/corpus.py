"""A corpus of DuckDB transforms, each with the verdict flowdeck must reach on Spark.

``same``: the query runs on both engines and gives identical rows; a rule id: the lint
refuses it before running. The data is small and deterministic, with the edge cases that
tell engines apart: NULLs, month and year boundaries, a Sunday, microseconds, empty and
NULL lists, a quoted comma in a CSV field, dirty numeric text, zero divisors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class Case:
    """One transform: its family, its SQL (DuckDB dialect) and the expected verdict."""

    name: str
    family: str
    sql: str
    verdict: str = "same"


def write_data(folder: Path) -> dict[str, tuple[str, dict[str, object], bool]]:
    """Write the corpus files; return table → (path or glob, reader options, filename column)."""
    folder.mkdir(parents=True, exist_ok=True)
    landed = folder / "landed"
    landed.mkdir(exist_ok=True)
    connection = duckdb.connect()
    connection.execute(
        """
        CREATE TABLE events AS
        SELECT
            i::BIGINT AS id,
            (i % 7 + 1)::INTEGER AS user_id,
            TIMESTAMP '2026-12-29 22:00:00' + to_microseconds(((i * 37 * 3600 + i * 61) * 1000000 + i * 1237)::BIGINT) AS ts,
            (DATE '2026-12-28' + (i * 3)::INTEGER)::DATE AS d,
            ((i * 733) % 9973 / 100.0 + i / 1000.0)::DECIMAL(10, 2) AS amount,
            (CASE WHEN i % 11 = 0 THEN 0.0 ELSE round((i * 1.37) % 97, 3) END)::DOUBLE AS price,
            CASE WHEN i % 9 = 0 THEN NULL ELSE (i % 5)::INTEGER END AS qty,
            CASE WHEN i % 10 = 0 THEN NULL WHEN i % 10 = 1 THEN []::VARCHAR[]
                 ELSE list_transform(range(i % 4 + 1), lambda x: chr(97 + ((x + i) % 5)::INTEGER)) END AS tags,
            'https://shop' || (i % 3) || '.example.com/item?id=' || (i * 7) || '&ref=' || (i % 13) AS url,
            '{"kind": "' || (CASE WHEN i % 2 = 0 THEN 'view' ELSE 'buy' END) || '", "n": ' || i || '}' AS payload,
            {'a': i % 4, 'b': 'b' || (i % 3)} AS props,
            CASE WHEN i % 6 = 0 THEN NULL WHEN i % 6 = 1 THEN '2026-0' || (i % 9 + 1) || '-1' || (i % 9)
                 ELSE 'note ' || (i % 17) END AS note,
            (['12', '12.5', ' 7 ', 'x', NULL, '1e3', '-3.5', '2147483648'])[i % 8 + 1] AS code
        FROM range(1, 121) AS r(i)
        """
    )
    connection.execute(f"COPY events TO '{folder / 'events.parquet'}' (FORMAT parquet)")
    users = folder / "users.csv"
    users.write_text(
        "user_id,name,country,signup,score\n"
        + "".join(
            f'{i},"Name {i}, Jr",{["FR", "DE", "ES"][i % 3]},2026-{(i % 12) + 1:02d}-{(i % 27) + 1:02d},{i * 1.5}\n'
            for i in range(1, 9)
        )
    )
    items = folder / "items.jsonl"
    items.write_text("".join(f'{{"id": {i}, "label": "item {i}", "day": "2026-11-{i:02d}"}}\n' for i in range(1, 6)))
    # a header DuckDB's reader renames: a repeated name, a blank one; and one with a space
    (folder / "odd_header.csv").write_text("id,name,name,,first name,name\n1,a,b,c,d,e\n2,f,g,h,i,j\n")
    for batch in (1, 2):
        (landed / f"batch{batch}.csv").write_text(
            "order_id,amount\n" + "".join(f"{batch * 100 + i},{i * 2.5}\n" for i in range(batch + 2)))
    connection.close()
    return {
        "events": (str(folder / "events.parquet"), {}, False),
        "users": (str(users), {}, False),
        "items": (str(items), {"columns": {"id": "BIGINT", "label": "VARCHAR", "day": "DATE"}}, False),
        "landed": (str(landed / "*.csv"), {"header": True}, True),
        "odd_header": (str(folder / "odd_header.csv"), {}, False),
    }


# text that tells Unicode handling apart: full case mappings, final sigma, grapheme clusters, CR LF
WORDS = "['Straße', 'ΟΔΟΣ ΑΣ', 'İstanbul', 'ﬁne', 'éx', 'e\u0301x', 'ǅemal', 'ᾳ', '👍🏽a', '👨\u200d👩\u200d👧 fam', '🇫🇷🇩🇪', '각각', 'a\r\nb', 'ä̀b', 'abc', '', NULL]"

CASES = [
    # -- CTEs, joins, grouping ----------------------------------------------------------------
    Case("cte_join", "ctes", "WITH big AS (SELECT user_id, sum(amount) AS total FROM events GROUP BY user_id) "
         "SELECT u.name, b.total FROM big AS b JOIN users AS u USING (user_id) ORDER BY u.name"),
    Case("left_join_group_by_all", "joins", "SELECT u.country, count(e.id) AS n, sum(e.amount) AS total "
         "FROM users AS u LEFT JOIN events AS e ON e.user_id = u.user_id GROUP BY ALL ORDER BY ALL"),
    Case("semi_join", "joins", "SELECT u.user_id FROM users AS u SEMI JOIN events AS e ON e.user_id = u.user_id "
         "AND e.qty = 4 ORDER BY u.user_id"),
    Case("anti_join", "joins", "SELECT u.user_id FROM users AS u ANTI JOIN events AS e ON e.user_id = u.user_id "
         "AND e.price > 90 ORDER BY u.user_id"),
    Case("exists_subquery", "joins", "SELECT name FROM users AS u WHERE EXISTS (SELECT 1 FROM events AS e "
         "WHERE e.user_id = u.user_id AND e.amount > 95) ORDER BY name"),
    Case("count_filter", "grouping", "SELECT user_id, count(*) FILTER (WHERE qty > 2) AS big FROM events "
         "GROUP BY user_id ORDER BY user_id"),
    Case("union_all", "grouping", "SELECT id AS k FROM events WHERE id < 5 UNION ALL SELECT user_id AS k FROM users "
         "ORDER BY k"),
    Case("order_by_nulls", "ordering", "SELECT note, id FROM events ORDER BY note, id"),
    Case("order_by_all", "ordering", "SELECT qty, count(*) AS n FROM events GROUP BY ALL ORDER BY ALL"),
    Case("distinct_on", "ordering", "SELECT DISTINCT ON (user_id) user_id, id FROM events ORDER BY user_id, id"),
    Case("exclude_star", "ordering", "SELECT * EXCLUDE (tags, props) FROM events ORDER BY id"),
    Case("limit_ordered", "ordering", "SELECT id FROM events ORDER BY id DESC LIMIT 5"),
    # -- window functions, QUALIFY ------------------------------------------------------------
    Case("window_running_sum", "windows", "SELECT id, sum(qty) OVER (PARTITION BY user_id ORDER BY ts, id "
         "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM events ORDER BY id"),
    Case("window_lag_rank", "windows", "SELECT id, lag(amount) OVER (PARTITION BY user_id ORDER BY ts, id) AS prev, "
         "dense_rank() OVER (ORDER BY user_id) AS r FROM events ORDER BY id"),
    Case("qualify_columns", "qualify", "SELECT user_id, id FROM events "
         "QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY ts DESC, id) = 1 ORDER BY user_id"),
    Case("qualify_star", "qualify", "SELECT * FROM events QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY id) = 1 "
         "ORDER BY id"),
    # -- dates and timestamps -------------------------------------------------------------------
    Case("strftime", "dates", "SELECT id, strftime(ts, '%Y-%m-%d %H:%M') AS s FROM events ORDER BY id"),
    Case("strftime_names", "dates", "SELECT id, strftime(d, '%A %d %B %Y') AS s FROM events ORDER BY id"),
    Case("date_trunc", "dates", "SELECT date_trunc('month', d) AS m, date_trunc('week', d) AS w, count(*) AS n "
         "FROM events GROUP BY ALL ORDER BY ALL"),
    Case("date_part_quarter", "dates", "SELECT id, date_part('quarter', d) AS q, last_day(d) AS l FROM events ORDER BY id"),
    Case("date_diff", "dates", "SELECT id, date_diff('month', d, DATE '2027-01-01') AS m, "
         "date_diff('day', d, DATE '2027-01-01') AS dd, date_diff('year', d, DATE '2027-03-01') AS y, "
         "date_diff('hour', ts, TIMESTAMP '2027-01-03 00:00:00') AS h, datediff('quarter', d, DATE '2027-06-30') AS q "
         "FROM events ORDER BY id"),
    Case("date_diff_week", "dates", "SELECT id, date_diff('week', d, DATE '2027-01-01') AS w FROM events", "date_diff"),
    Case("day_of_week", "dates", "SELECT id, dayofweek(d) AS dow, isodow(d) AS iso, extract(dow FROM d) AS e, "
         "date_part('isodow', d) AS p FROM events ORDER BY id"),
    Case("epoch", "dates", "SELECT id, epoch(ts) AS e, epoch_ms(ts) AS ms, epoch_us(ts) AS us FROM events ORDER BY id"),
    Case("epoch_ms_integer", "dates", "SELECT id, epoch_ms(id * 1000000) AS t FROM events ORDER BY id"),
    Case("date_plus_interval", "dates", "SELECT id, d + INTERVAL 1 DAY AS next_day, ts - INTERVAL 90 MINUTE AS earlier "
         "FROM events ORDER BY id"),
    Case("date_plus_days", "dates", "SELECT id, d + 7 AS week_later FROM events ORDER BY id"),
    Case("strptime", "dates", "SELECT id, strptime(strftime(ts, '%Y-%m-%d'), '%Y-%m-%d') AS p, "
         "try_strptime(note, '%Y-%m-%d') AS t FROM events ORDER BY id"),
    Case("timestamp_text", "dates", "SELECT id, CAST(d AS VARCHAR) AS s, CAST(ts AS VARCHAR) AS t FROM events ORDER BY id"),
    Case("timestamptz", "dates", "SELECT id, ts::TIMESTAMPTZ AS z FROM events", "timestamptz"),
    # -- regular expressions and strings --------------------------------------------------------
    Case("regexp_replace_first", "regex", "SELECT id, regexp_replace(url, '[0-9]', '#') AS r FROM events ORDER BY id"),
    Case("regexp_replace_global", "regex", "SELECT id, regexp_replace(url, '([a-z]+)://', '\\1:', 'g') AS r, "
         "regexp_replace(url, '[0-9]+', '<\\0>', 'g') AS w FROM events ORDER BY id"),
    Case("regexp_backreference", "regex", "SELECT id, regexp_replace(url, '(\\d)(\\d)', '\\2\\1') AS r FROM events ORDER BY id"),
    Case("regexp_case_insensitive", "regex", "SELECT id, regexp_replace(url, 'HTTPS', 'x', 'i') AS r FROM events ORDER BY id"),
    Case("regexp_extract", "regex", "SELECT id, regexp_extract(url, 'id=(\\d+)', 1) AS x, regexp_matches(url, '^https') AS m "
         "FROM events ORDER BY id"),
    Case("regexp_extract_all", "regex", "SELECT id, regexp_extract_all(url, '\\d+') AS xs FROM events ORDER BY id"),
    Case("like_ilike", "strings", "SELECT id, url LIKE '%shop1%' AS l, url ILIKE '%SHOP2%' AS i FROM events ORDER BY id"),
    Case("string_functions", "strings", "SELECT id, upper(note) AS u, length(note) AS n, left(url, 5) AS l, "
         "split_part(url, '/', 3) AS host, starts_with(url, 'https') AS s, contains(url, 'id=') AS c, "
         "strpos(url, '.') AS p FROM events ORDER BY id"),
    Case("string_split", "strings", "SELECT id, string_split(url, '.') AS parts FROM events ORDER BY id"),
    Case("concat_nulls", "strings", "SELECT id, concat(note, '-', user_id) AS c, note || '!' AS bang FROM events ORDER BY id"),
    Case("string_agg_ordered", "strings", "SELECT user_id, string_agg(note, ',' ORDER BY id) AS notes FROM events "
         "GROUP BY user_id ORDER BY user_id"),
    Case("string_agg_unordered", "strings", "SELECT user_id, string_agg(note, ',') AS notes FROM events GROUP BY user_id",
         "unordered_list_agg"),
    # -- lists and structs ------------------------------------------------------------------------
    Case("list_functions", "lists", "SELECT id, len(tags) AS n, array_length(tags) AS n2, list_contains(tags, 'a') AS has_a, "
         "tags[1] AS first_tag, tags[-1] AS last_tag FROM events ORDER BY id"),
    Case("list_index_computed", "lists", "SELECT id, tags[qty] AS t FROM events ORDER BY id"),
    Case("list_slice", "lists", "SELECT id, tags[2:3] AS t, note[1:4] AS prefix FROM events ORDER BY id"),
    Case("list_lambdas", "lists", "SELECT id, list_transform(tags, lambda x: upper(x)) AS up, list_filter(tags, lambda x: x <> 'a') AS f "
         "FROM events ORDER BY id"),
    Case("unnest", "lists", "SELECT id, unnest(tags) AS tag FROM events ORDER BY id, tag"),
    Case("list_agg_ordered", "lists", "SELECT user_id, list(qty ORDER BY id DESC) AS qs FROM events GROUP BY user_id "
         "ORDER BY user_id"),
    Case("list_agg_unordered", "lists", "SELECT user_id, list(qty) AS qs FROM events GROUP BY user_id", "unordered_list_agg"),
    Case("structs", "structs", "SELECT id, props.a AS a, props.b AS b, {'k': id, 'v': note} AS s, struct_pack(x := qty) AS p "
         "FROM events ORDER BY id"),
    Case("list_literal", "lists", "SELECT id, [id, id + 1] AS pair FROM events ORDER BY id"),
    Case("generate_series_scalar", "lists", "SELECT unnest(generate_series(1, 3)) AS x ORDER BY x"),
    Case("range_table_function", "lists", "SELECT * FROM range(3) AS t(x)", "table_function_range"),
    Case("several_unnest", "lists", "SELECT unnest(tags) AS a, unnest(tags) AS b FROM events", "several_unnest"),
    # -- JSON -------------------------------------------------------------------------------------
    Case("json_extract_string", "json", "SELECT id, json_extract_string(payload, '$.kind') AS k, payload ->> '$.n' AS n "
         "FROM events ORDER BY id"),
    Case("json_extract", "json", "SELECT id, json_extract(payload, '$.kind') AS k FROM events", "json_extract"),
    Case("json_arrow", "json", "SELECT id, payload -> '$.n' AS n FROM events", "json_extract"),
    # -- decimals and numbers ---------------------------------------------------------------------
    Case("decimal_sum", "decimals", "SELECT user_id, sum(amount) AS total, min(amount) AS lo FROM events GROUP BY user_id "
         "ORDER BY user_id"),
    Case("decimal_avg", "decimals", "SELECT user_id, round(avg(amount), 2) AS a FROM events GROUP BY user_id ORDER BY user_id"),
    Case("decimal_median", "decimals", "SELECT median(amount) AS m FROM events", "median_decimal"),
    Case("division", "numbers", "SELECT id, amount / qty AS per_unit, price / 3 AS third, qty / 2 AS half FROM events "
         "ORDER BY id"),
    Case("division_by_zero", "numbers", "SELECT id, price / (id - id) AS r, 0 / (id - id) AS nan FROM events ORDER BY id"),
    Case("integer_division", "numbers", "SELECT id, qty // 2 AS h, qty % 3 AS m FROM events ORDER BY id"),
    Case("quantile", "numbers", "SELECT quantile_cont(price, 0.9) AS p90, median(price) AS med FROM events"),
    Case("quantile_disc", "numbers", "SELECT quantile_disc(price, 0.5) AS p FROM events", "median_decimal"),
    Case("try_cast_text", "numbers", "SELECT id, TRY_CAST(code AS INTEGER) AS i, TRY_CAST(code AS BIGINT) AS b, "
         "TRY_CAST(code AS DOUBLE) AS f FROM events ORDER BY id"),
    Case("rounding", "numbers", "SELECT id, round(price, 1) AS r, floor(price) AS f, ceil(price) AS c FROM events ORDER BY id"),
    Case("double_to_text", "numbers", "SELECT id, price::VARCHAR AS p FROM events", "double_to_text"),
    Case("conditionals", "numbers", "SELECT id, coalesce(note, 'none') AS n, if(qty > 2, 'big', 'small') AS size, "
         "greatest(qty, 2) AS g, nullif(qty, 0) AS nz FROM events ORDER BY id"),
    Case("arg_max", "numbers", "SELECT user_id, arg_max(id, amount) AS top FROM events GROUP BY user_id ORDER BY user_id"),
    Case("hash", "numbers", "SELECT id, hash(url) AS h FROM events", "hash"),
    Case("md5", "numbers", "SELECT id, md5(url) AS h FROM events ORDER BY id"),
    # -- non-determinism and DuckDB-only syntax ---------------------------------------------------
    Case("limit_without_order", "determinism", "SELECT id FROM events LIMIT 5", "limit_without_order"),
    Case("any_value", "determinism", "SELECT user_id, any_value(id) AS some_id FROM events GROUP BY user_id",
         "nondeterministic_pick"),
    Case("unnamed_output_named_as_duckdb_names_it", "naming", "SELECT user_id, count(*), user_id + 1, "
         "max(note) || '!' FROM events GROUP BY user_id ORDER BY user_id"),
    Case("union_by_name", "syntax", "SELECT id FROM events UNION ALL BY NAME SELECT user_id AS id FROM users",
         "duckdb_only_syntax"),
    Case("pivot", "syntax", "SELECT * FROM events PIVOT (sum(qty) FOR user_id IN (1, 2))", "duckdb_only_syntax"),
    Case("columns_expression", "syntax", "SELECT COLUMNS('i.*') FROM events", "duckdb_only_syntax"),
    Case("asof_join", "syntax", "SELECT e.id, u.name FROM events AS e ASOF JOIN users AS u ON e.user_id >= u.user_id",
         "duckdb_only_syntax"),
    Case("unknown_function", "syntax", "SELECT id, bar(url) AS b FROM events", "unknown_function"),
    # -- file readers -----------------------------------------------------------------------------
    Case("csv_reader_types", "files", "SELECT * FROM users ORDER BY user_id"),
    Case("json_reader_columns", "files", "SELECT * FROM items ORDER BY id"),
    Case("csv_glob_filename", "files", "SELECT filename, count(*) AS n, sum(amount) AS total FROM landed "
         "GROUP BY filename ORDER BY filename"),
    # DuckDB's file table functions in a transform: read by Spark's readers, options and types alike
    Case("file_function_in_sql", "files", "SELECT * FROM read_csv('users.csv') ORDER BY user_id"),
    Case("read_csv_options", "files", "SELECT * FROM read_csv('users.csv', header = true, delim = ',', "
         "columns = {'user_id': 'BIGINT', 'name': 'VARCHAR', 'country': 'VARCHAR', 'signup': 'DATE', "
         "'score': 'DOUBLE'}) ORDER BY user_id"),
    Case("read_csv_auto", "files", "SELECT name, score, signup FROM read_csv_auto('users.csv') ORDER BY name"),
    Case("read_csv_all_varchar", "files", "SELECT * FROM read_csv('users.csv', all_varchar = true) ORDER BY user_id"),
    Case("read_parquet", "files", "SELECT id, amount, tags FROM read_parquet('events.parquet') AS e WHERE e.id < 10 "
         "ORDER BY id"),
    Case("read_parquet_list", "files", "SELECT count(*) AS n, sum(amount) AS total FROM "
         "read_parquet(['events.parquet', 'events.parquet'])"),
    Case("read_csv_glob_filename", "files", "SELECT filename, count(*) AS n, sum(amount) AS total "
         "FROM read_csv('landed/*.csv', filename = true) GROUP BY ALL ORDER BY ALL"),
    Case("read_json_columns", "files", "SELECT * FROM read_json('items.jsonl', columns = {'id': 'BIGINT', "
         "'label': 'VARCHAR', 'day': 'DATE'}) ORDER BY id"),
    Case("read_ndjson", "files", "SELECT id, day FROM read_ndjson('items.jsonl', columns = {'id': 'INTEGER', "
         "'label': 'VARCHAR', 'day': 'DATE'}) ORDER BY id"),
    Case("file_path_in_sql", "files", "SELECT count(*) AS n, max(id) AS top FROM 'events.parquet'"),
    Case("file_path_joined", "files", "SELECT u.name, count(*) AS n FROM 'events.parquet' AS e "
         "JOIN read_csv('users.csv') AS u ON u.user_id = e.user_id GROUP BY u.name ORDER BY u.name"),
    Case("file_path_default_alias", "files", "SELECT events.id FROM 'events.parquet' WHERE events.id < 4 "
         "ORDER BY events.id"),
    Case("read_csv_unsupported_option", "files", "SELECT * FROM read_csv('users.csv', sample_size = 10)",
         "file_function"),
    Case("read_json_without_columns", "files", "SELECT * FROM read_json('items.jsonl')", "file_function"),
    Case("read_text", "files", "SELECT * FROM read_text('users.csv')", "file_function"),
    # -- the constructs issue 20 lists -------------------------------------------------------------
    Case("sum_decimal_over", "decimals", "SELECT id, sum(amount) OVER (PARTITION BY user_id ORDER BY id) AS running, avg(amount) "
         "OVER (PARTITION BY user_id) AS mean FROM events ORDER BY id"),
    Case("decimal_division_to_text", "decimals", "SELECT id, CAST(amount / qty AS VARCHAR) AS v FROM events", "double_to_text"),
    Case("length_of_list_agg", "lists", "SELECT user_id, len(array_agg(note)) AS n, array_length(list(qty)) AS q FROM events GROUP "
         "BY user_id ORDER BY user_id"),
    Case("pivot_statement", "syntax", "PIVOT events ON user_id USING sum(qty)", "duckdb_only_syntax"),
    # -- functions docs/spark.md names (its rules and the alternatives its refusals offer) -----------
    Case("arg_min", "numbers", "SELECT user_id, arg_min(id, amount) AS low FROM events GROUP BY user_id ORDER BY user_id"),
    Case("array_agg_ordered", "lists", "SELECT user_id, array_agg(note ORDER BY id) AS notes FROM events GROUP BY user_id ORDER "
         "BY user_id"),
    Case("array_agg_unordered", "lists", "SELECT user_id, array_agg(note) AS notes FROM events GROUP BY user_id", "unordered_list_agg"),
    Case("array_to_string", "lists", "SELECT id, array_to_string(tags, ',') AS t FROM events ORDER BY id"),
    Case("list_extract", "lists", "SELECT id, list_extract(tags, 2) AS second, list_extract(tags, qty) AS at_qty FROM events "
         "ORDER BY id"),
    Case("list_cast_then_index", "lists", "SELECT id, (tags::VARCHAR[])[1] AS first_tag FROM events ORDER BY id"),
    Case("printf_percent_s_of_double", "strings", "SELECT id, printf('%s', price) AS p FROM events", "printf"),
    Case("printf", "strings", "SELECT id, printf('%.1f', price) AS p, printf('%.2f|%5.1f', price, price / 7) AS q, "
         "printf('%d of %s', qty, note) AS s FROM events ORDER BY id"),
    Case("decimal_to_text", "decimals", "SELECT id, CAST(price AS DECIMAL(18, 2))::VARCHAR AS p, amount::VARCHAR AS a FROM events "
         "ORDER BY id"),
    Case("sha256", "strings", "SELECT id, sha256(url) AS h FROM events ORDER BY id"),
    Case("struct_fields_as_text", "structs", "SELECT id, props.a || ',' || props.b AS t FROM events ORDER BY id"),
    Case("struct_to_text", "structs", "SELECT id, props::VARCHAR AS t FROM events", "nested_to_text"),
    Case("median_double", "numbers", "SELECT median(amount::DOUBLE) AS m, quantile_cont(amount::DOUBLE, 0.25) AS q FROM events"),
    Case("epoch_difference", "dates", "SELECT id, epoch(TIMESTAMP '2027-01-03 00:00:00') - epoch(ts) AS s FROM events ORDER BY id"),
    Case("epoch_ms_cast", "dates", "SELECT id, epoch_ms(ts::TIMESTAMP) AS ms FROM events ORDER BY id"),
    Case("date_cast_plus_interval", "dates", "SELECT id, d::DATE + INTERVAL 1 DAY AS t FROM events ORDER BY id"),
    Case("cast_to_bigint", "numbers", "SELECT id, CAST(price AS BIGINT) AS p, CAST(amount AS BIGINT) AS a FROM events ORDER BY id"),
    Case("generate_series_unnest_range", "lists", "SELECT unnest(generate_series(2, 5)) AS x ORDER BY x"),
    Case("concat_function", "strings", "SELECT id, concat(url, '#', qty, note) AS c, concat(d, '/', amount, '/', qty > 2) AS t, "
         "concat_ws('-', note, code) AS w FROM events ORDER BY id"),
    Case("concat_double", "strings", "SELECT id, concat('p=', price) AS c FROM events", "double_to_text"),
    Case("first_aggregate", "determinism", "SELECT user_id, first(id) AS f FROM events GROUP BY user_id", "nondeterministic_pick"),
    Case("last_aggregate", "determinism", "SELECT user_id, last(id) AS f FROM events GROUP BY user_id", "nondeterministic_pick"),
    Case("arbitrary_aggregate", "determinism", "SELECT user_id, arbitrary(id) AS f FROM events GROUP BY user_id", "nondeterministic_pick"),
    Case("read_blob", "files", "SELECT * FROM read_blob('users.csv')", "file_function"),
    Case("read_json_objects", "files", "SELECT * FROM read_json_objects('items.jsonl')", "file_function"),
    Case("read_xlsx", "files", "SELECT * FROM read_xlsx('users.xlsx')", "file_function"),
    Case("strpos_and_length", "strings", "SELECT id, strpos(note, ' ') AS p, length(url) AS n, date_part('day', d) AS dd FROM "
         "events ORDER BY id"),
    # -- functions and casts of the example and template pipelines (pipelines/, operations/templates/) --
    Case("lower_trim", "strings", "SELECT id, lower(trim(code)) AS c, upper(trim(note)) AS n FROM events ORDER BY id"),
    Case("try_cast_text_to_date", "dates", "SELECT id, TRY_CAST(note AS DATE) AS d, TRY_CAST(code AS DATE) AS c FROM events ORDER BY "
         "id"),
    Case("try_cast_text_to_timestamp", "dates", "SELECT id, TRY_CAST(note AS TIMESTAMP) AS t, TRY_CAST(strftime(ts, '%Y-%m-%d %H:%M:%S') "
         "AS TIMESTAMP) AS back FROM events ORDER BY id"),
    Case("try_strptime_to_date", "dates", "SELECT id, TRY_STRPTIME(note, '%Y-%m-%d')::DATE AS d FROM events ORDER BY id"),
    Case("cast_text_to_decimal", "decimals", "SELECT id, TRY_CAST(code AS DECIMAL(12, 2)) AS c, CAST(amount AS DECIMAL(12, 2)) AS a "
         "FROM events ORDER BY id"),
    Case("cast_text_to_double", "numbers", "SELECT id, TRY_CAST(code AS DOUBLE) AS c FROM events ORDER BY id"),
    Case("coalesce_try_cast", "numbers", "SELECT id, COALESCE(TRY_CAST(code AS INTEGER), 1) AS q FROM events ORDER BY id"),
    Case("count_distinct", "grouping", "SELECT d, count(DISTINCT user_id) AS users, count(*) AS n FROM events GROUP BY ALL ORDER "
         "BY d"),
    Case("cast_timestamp_to_date", "dates", "SELECT CAST(ts AS DATE) AS day, count(*) AS n FROM events GROUP BY ALL ORDER BY day"),
    Case("parse_filename", "files", "SELECT parse_filename(filename) AS f, count(*) AS n FROM landed GROUP BY ALL ORDER BY ALL"),
    Case("parse_filename_paths", "files", "SELECT parse_filename(p) AS a, parse_filename(p, true) AS b, "
         "parse_filename(p, false, 'forward_slash') AS c FROM (SELECT unnest(['a/b/c.csv', 'a\\b\\c.tar.gz', "
         "'x/.hidden', 'plain', 'dir/']) AS p) ORDER BY p"),
    Case("parse_filename_trimmed", "files", "SELECT parse_filename(filename, true) AS f, count(*) AS n FROM landed GROUP BY ALL ORDER "
         "BY ALL"),
    Case("in_list_filter", "grouping", "SELECT user_id, sum(amount) AS revenue FROM events WHERE qty IN (1, 2, 3) GROUP BY "
         "user_id ORDER BY user_id"),
    # -- the clock and random values of docs/plans.md and docs/sql-tests.md -------------------------
    Case("clock_dates", "dates", "SELECT id, d > current_date AS future, d > today() AS future2, ts > now() AS later FROM "
         "events ORDER BY id"),
    Case("current_timestamp_compare", "dates", "SELECT count(*) AS n FROM events WHERE ts > current_timestamp"),
    Case("random_in_aggregate", "determinism", "SELECT min(random()) >= 0 AS lo FROM events",
         "nondeterministic_in_aggregate"),
    Case("uuid_in_aggregate", "determinism", "SELECT count(DISTINCT uuid()) AS n FROM events",
         "nondeterministic_in_aggregate"),
    Case("random_values", "numbers", "SELECT count(*) AS n, min(r) >= 0 AS lo, max(r) < 1 AS hi "
         "FROM (SELECT random() AS r FROM events)"),
    Case("uuid_text", "strings", "SELECT count(DISTINCT u) AS n, min(length(g)) AS l FROM (SELECT uuid()::VARCHAR AS u, "
         "gen_random_uuid()::VARCHAR AS g FROM events)"),
    Case("uuid_output", "strings", "SELECT id, uuid() AS u FROM events", "output_type"),
    Case("nextval", "numbers", "SELECT nextval('seq') AS n FROM events", "unknown_function"),
    # -- docs/connectors.md: nested values as JSON text for a database load --------------------------
    Case("to_json", "json", "SELECT id, to_json(props)::VARCHAR AS j, to_json(tags)::VARCHAR AS t, "
         "to_json({'k': id, 'v': note, 'd': d, 'ok': qty > 2})::VARCHAR AS n FROM events ORDER BY id"),
    Case("to_json_output", "json", "SELECT id, to_json(props) AS j FROM events", "output_type"),
    Case("to_json_double", "json", "SELECT id, to_json({'p': price})::VARCHAR AS j FROM events", "to_json"),
    # -- everyday DuckDB functions beyond the docs (strings, math, dates, lists, statistics, windows) -----
    Case("string_everyday", "strings", "SELECT id, substring(url, 9, 5) AS s, replace(url, 'https://', '') AS r, ltrim(code) AS "
         "l, rtrim(code) AS rt, lpad(CAST(qty AS VARCHAR), 3, '0') AS p, "
         "repeat('ab', qty) AS rp, right(url, 4) AS rg FROM events ORDER BY id"),
    Case("string_search", "strings", "SELECT id, position('id=' IN url) AS p, instr(url, 'shop') AS i, ends_with(url, '3') AS e "
         "FROM events ORDER BY id"),
    Case("string_case_and_split", "strings", "SELECT id, lcase(note) AS lc, ucase(note) AS uc, str_split(note, ' ') AS parts, "
         "regexp_split_to_array(url, '[/.]') AS re, str_split_regex(note, ' +') AS sr FROM events ORDER BY id"),
    Case("math_functions", "numbers", "SELECT id, abs(price - 50) AS a, sign(price - 50) AS s, power(qty, 2) AS p, sqrt(price) "
         "AS q, ln(price + 1) AS l, log10(price + 1) AS l10, exp(qty) AS e, mod(id, 7) AS m FROM "
         "events ORDER BY id"),
    Case("integer_math", "numbers", "SELECT id, id % 7 AS m, abs(qty - 3) AS a, greatest(id, 50) AS g, least(qty, 2) AS l, id "
         "* qty AS p, -id AS n FROM events ORDER BY id"),
    Case("date_parts", "dates", "SELECT id, year(d) AS y, month(d) AS m, day(d) AS dd, quarter(d) AS q, dayofyear(d) AS "
         "doy, hour(ts) AS h, minute(ts) AS mi, second(ts) AS s FROM events ORDER BY id"),
    Case("date_names", "dates", "SELECT id, dayname(d) AS dn, monthname(d) AS mn FROM events ORDER BY id"),
    Case("make_date_and_add", "dates", "SELECT id, make_date(2026, (id % 12 + 1)::BIGINT, 1) AS m, date_add(d, INTERVAL 2 DAY) AS a, "
         "date_add(ts, INTERVAL 3 HOUR) AS b, d - 3 AS earlier FROM events ORDER BY id"),
    Case("date_difference_days", "dates", "SELECT id, d - DATE '2026-12-01' AS days FROM events ORDER BY id"),
    Case("timestamp_parts", "dates", "SELECT id, ts::DATE AS day, date_trunc('hour', ts) AS h, date_trunc('year', ts) AS y, "
         "extract(year FROM ts) AS ey, extract(epoch FROM ts) AS ee FROM events ORDER BY id"),
    Case("strftime_codes", "dates", "SELECT id, strftime(ts, '%j|%-j|%y|%b|%h|%a|%I%p|%-I|%S.%f|%g|%c|%x %X|100%%') AS s, "
         "strftime(d, 'Q: %A, %-d %B ''%y') AS q FROM events ORDER BY id"),
    Case("strftime_weekday_number", "dates", "SELECT id, strftime(d, '%u') AS s FROM events", "strftime"),
    Case("list_everyday", "lists", "SELECT id, list_sort(tags) AS s, list_sort(list_distinct(tags)) AS dd, "
         "array_contains(tags, 'b') AS c, list_concat(tags, ['z']) AS cc, list_concat(tags, tags) AS c2, "
         "array_sort(array_distinct(tags)) AS ad FROM events ORDER BY id"),
    Case("list_distinct_unsorted", "lists", "SELECT id, list_distinct(tags) AS dd FROM events", "list_distinct"),
    Case("list_aggregates", "lists", "SELECT id, list_max([qty, id]) AS mx, flatten([tags, ['z']]) AS f FROM events ORDER BY id"),
    Case("statistics", "numbers", "SELECT user_id, stddev(price) AS sd, variance(price) AS v, stddev_pop(price) AS sp, "
         "corr(price, id) AS c FROM events GROUP BY user_id ORDER BY user_id"),
    Case("boolean_aggregates", "grouping", "SELECT user_id, bool_and(qty > 0) AS a, bool_or(qty > 3) AS o, count_if(qty > 2) AS c, "
         "sum(CASE WHEN qty > 2 THEN 1 ELSE 0 END) AS s FROM events GROUP BY user_id ORDER BY "
         "user_id"),
    Case("window_functions", "windows", "SELECT id, lead(id) OVER (PARTITION BY user_id ORDER BY id) AS nxt, ntile(3) OVER (ORDER "
         "BY id) AS t, percent_rank() OVER (ORDER BY id) AS pr, cume_dist() OVER (ORDER BY id) AS "
         "cd, first_value(id) OVER (PARTITION BY user_id ORDER BY id) AS fv, rank() OVER (ORDER BY "
         "qty) AS r FROM events ORDER BY id"),
    Case("window_frames", "windows", "SELECT id, avg(price) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS ma, "
         "count(*) OVER (PARTITION BY user_id) AS n, max(amount) OVER (PARTITION BY user_id) AS top "
         "FROM events ORDER BY id"),
    Case("last_value_window", "windows", "SELECT id, last_value(id) OVER (PARTITION BY user_id ORDER BY id ROWS BETWEEN UNBOUNDED "
         "PRECEDING AND UNBOUNDED FOLLOWING) AS lv FROM events ORDER BY id"),
    Case("case_and_between", "numbers", "SELECT id, CASE WHEN price BETWEEN 10 AND 50 THEN 'mid' WHEN price > 50 THEN 'high' ELSE "
         "'low' END AS band, qty IS DISTINCT FROM 2 AS d FROM events ORDER BY id"),
    Case("string_agg_distinct", "strings", "SELECT country, string_agg(DISTINCT name, ',' ORDER BY name) AS ns, "
         "string_agg(DISTINCT name, '|' ORDER BY name DESC) AS rs FROM users GROUP BY country ORDER BY country"),
    Case("string_agg_distinct_other_order", "strings", "SELECT string_agg(DISTINCT name, ',' ORDER BY user_id) AS ns "
         "FROM users", "ordered_list_agg"),
    Case("approx_and_distinct_counts", "grouping", "SELECT count(DISTINCT note) AS n, count(note) AS nn, count(*) AS a FROM events"),
    Case("regexp_matches_anchor", "regex", "SELECT id, regexp_matches(code, '^[0-9]+$') AS f, regexp_matches(note, '^note 1') AS m "
         "FROM events ORDER BY id"),
    Case("json_text_cast", "json", "SELECT id, json_extract_string(payload, '$.n')::INTEGER AS n FROM events ORDER BY id"),
    Case("cast_integer_to_text", "strings", "SELECT id, id::VARCHAR AS s, CAST(qty AS TEXT) AS q, amount::VARCHAR || '€' AS a FROM "
         "events ORDER BY id"),
    Case("cast_bool_and_date_text", "strings", "SELECT id, (qty > 2)::VARCHAR AS b, CAST('2026-03-04' AS DATE) AS d, CAST('2026-03-04 "
         "05:06:07' AS TIMESTAMP) AS t FROM events ORDER BY id"),
    Case("decimal_arithmetic", "decimals", "SELECT id, amount * 2 AS doubled, amount + 1.5 AS plus, amount - amount AS zero, amount * "
         "amount AS squared FROM events ORDER BY id"),
    Case("decimal_aggregates", "decimals", "SELECT user_id, max(amount) AS mx, min(amount) AS mn, count(amount) AS n, sum(amount * "
         "qty) AS weighted FROM events GROUP BY user_id ORDER BY user_id"),
    Case("integer_sum_avg", "numbers", "SELECT user_id, sum(qty) AS s, avg(qty) AS a, sum(id) AS ids FROM events GROUP BY user_id "
         "ORDER BY user_id"),
    Case("functions_spark_lacks", "syntax", "SELECT id, prefix(url, 'https') AS p, suffix(url, '0') AS s, "
         "list_sum([qty, id]) AS ls, json_valid(payload) AS v FROM events", "unknown_function"),
    # -- issue 20's last gaps: Unicode text, functions Spark calls otherwise, DISTINCT ON, strptime, CSV headers --
    Case("unicode_case_mapping", "strings", "SELECT s, upper(s) AS u, lower(s) AS l, ucase(s) AS uc, lcase(s) AS lc, "
         "upper(s) = upper(lower(s)) AS stable FROM (SELECT unnest(" + WORDS + ") AS s) ORDER BY s"),
    Case("unicode_length", "strings", "SELECT s, length(s) AS n, left(s, 2) AS l, "
         "strpos(s, 'a') AS p FROM (SELECT unnest(" + WORDS + ") AS s) ORDER BY s"),
    # reverse(text) is refused whatever the text: Java's grapheme clusters are not DuckDB's for every script
    Case("reverse_text", "strings", "SELECT id, reverse(note) AS rv FROM events", "reverse"),
    Case("reverse_ascii_literal", "strings", "SELECT reverse('abc') AS r", "reverse"),
    Case("chr_code_points", "strings", "SELECT n, chr(n) AS c, chr(8364) AS euro, ascii(chr(n)) AS back FROM (SELECT "
         "unnest([1, 65, 127, 128, 255, 256, 769, 2047, 2048, 8364, 65535, 65536, 128512, 1114111]) AS n) ORDER BY n"),
    Case("week_functions", "dates", "SELECT id, week(d) AS w, weekofyear(ts) AS wy, yearweek(d) AS yw FROM events ORDER BY id"),
    Case("list_reverse_and_position", "lists", "SELECT id, list_reverse(tags) AS r, array_reverse(tags) AS ar, "
         "list_position(tags, 'b') AS p, list_indexof(tags, note) AS i, array_position([NULL, 'a'], note) AS np, "
         "list_position([1, NULL, 3], NULL::INTEGER) AS null_at FROM events ORDER BY id"),
    Case("regexp_full_match", "regex", "SELECT id, regexp_full_match(code, '[0-9]+') AS f, "
         "regexp_full_match(note, 'NOTE [0-9]+', 'i') AS i, regexp_full_match(code || chr(10), '[0-9]+') AS nl "
         "FROM events ORDER BY id"),
    Case("regexp_full_match_options", "regex", "SELECT id, regexp_full_match(code, '[0-9]+', 's') AS f FROM events",
         "regexp_full_match"),
    Case("distinct_on_order_not_selected", "ordering", "SELECT DISTINCT ON (user_id) user_id, id FROM events "
         "ORDER BY user_id, ts DESC"),
    Case("distinct_on_order_expression", "ordering", "SELECT DISTINCT ON (user_id) id, note FROM events "
         "ORDER BY user_id, amount * 2 DESC, id"),
    Case("distinct_on_limit_and_alias", "ordering", "SELECT DISTINCT ON (user_id) user_id AS u, id FROM events "
         "ORDER BY u DESC, id LIMIT 3 OFFSET 1"),
    Case("strptime_codes", "dates", "SELECT s, try_strptime(s, '%d %b %Y, %-I:%M %p') AS a, "
         "try_strptime(s, '%Y%m%d%H%M%S') AS b, try_strptime(s, 'day %j of %Y') AS c, try_strptime(s, '%x %X.%g') AS d, "
         "try_strptime(s, '%d/%m/%Y') AS e, try_strptime(s, '%B %-d, %Y') AS f FROM (SELECT unnest(['05 Jan 2027, 3:04 PM', "
         "'20261231235959', 'day 032 of 2027', '2027-01-05 02:04:04.12', '31/12/2026', ' 5/1/2027 ', '5/1/2027', "
         "'January 5,  2027', 'x']) AS s) ORDER BY s"),
    Case("strptime_compact", "dates", "SELECT id, strptime(strftime(ts, '%Y%m%d%H%M%S'), '%Y%m%d%H%M%S') AS t, "
         "strptime(strftime(d, '%d%m%Y'), '%d%m%Y') AS d FROM events ORDER BY id"),
    # DuckDB reads each field greedily up to its width and never backtracks: malformed text parses (or not) the same
    Case("strptime_malformed", "dates", "SELECT s, try_strptime(s, '%Y%m%d') AS compact, try_strptime(s, '%Y-%m-%d') AS "
         "dashed, try_strptime(s, '%Y-%m-%d %H:%M:%S.%f') AS stamped, try_strptime(s, '%Y %j') AS yday, "
         "try_strptime(s, '%Y %b %d') AS named, try_strptime(s, '%I:%M %p') AS clock FROM (SELECT unnest(["
         "'2026123', '20261203', '202612031', '2026121', '26-12-03', '026-12-03', '12026-12-03', '2026-012-03', "
         "'2026-1-3', '2026-13-03', '2026-02-30', '2024-02-29', '2026-00-10', '2026-01-00', ' 2026-01-03 ', "
         "'+2026-01-03', '-2026-01-03', '2026- 1-03', '2026-01-03x', '2026-01-03 24:00:00.1', '2026-01-03 23:59:60.1', "
         "'2026-01-03\t 1:2:3.1', '2026-01-03 01:02:03.1234567', '2026-01-03 01:02:03.123456', '2026 366', "
         "'2024 366', '2026 000', '2026 JAN 05', '2026 January 05', '12:04 am', '0:04 PM', '13:04 PM', '3:04PM', "
         "'', NULL]) AS s) ORDER BY s"),
    Case("strptime_literal_text", "dates", "SELECT s, try_strptime(s, '(%Y) [%m] $\\\\ ^*+?{}|.') AS meta, "
         "try_strptime(s, '%Y→%m😀%d') AS arrows, try_strptime(s, '%Y.%m') AS dot, try_strptime(s, '%I:%M') AS twelve "
         "FROM (SELECT unnest(['(2026) [12] $\\\\ ^*+?{}|.', '2026→12😀03', '2026.12', '2026x12', '0:04', '12:04', "
         "'13:04']) AS s) ORDER BY s"),
    Case("strptime_year_zero", "dates", "SELECT s, year(try_strptime(s, '%Y-%m-%d')) AS y, "
         "epoch_us(try_strptime(s, '%Y-%m-%d')::TIMESTAMP) AS us, epoch_us(strptime(s, '%Y-%m-%d')) AS st "
         "FROM (SELECT unnest(['0-12-03', '0-02-29', '1-01-01', '9999-12-31']) AS s) ORDER BY s"),
    Case("strptime_repeated_field", "dates", "SELECT strptime(code, '%x %Y') AS t FROM events", "strptime"),
    Case("strptime_day_of_year_and_month", "dates", "SELECT try_strptime(code, '%Y %j %m') AS t FROM events", "strptime"),
    Case("strptime_weekday", "dates", "SELECT strptime('Tue 05 Jan 2027', '%a %d %b %Y') AS t", "strptime"),
    Case("strptime_two_digit_year", "dates", "SELECT try_strptime(code, '%d/%m/%y') AS t FROM events", "strptime"),
    Case("csv_header_renamed", "files", "SELECT * FROM odd_header ORDER BY id"),
    Case("csv_header_renamed_in_sql", "files", "SELECT id, name_1, column3, \"first name\", name_2 "
         "FROM read_csv('odd_header.csv') ORDER BY id"),
    Case("unnest_in_expression", "lists", "SELECT id, upper(unnest(tags)) AS t FROM events", "unnest_in_expression"),
    Case("unnest_cast", "lists", "SELECT unnest(tags)::VARCHAR AS t FROM events", "unnest_in_expression"),
    Case("unnest_then_function", "lists", "SELECT id, upper(t) AS u FROM (SELECT id, unnest(tags) AS t FROM events) "
         "ORDER BY id, u"),
    Case("unicode_ilike", "strings", "SELECT s, s ILIKE 'οδοσ ας' AS sigma, s ILIKE 'istanbul' AS dotted, "
         "s ILIKE 'STRASSE' AS ss, s ILIKE '%É%' AS accent, s NOT ILIKE '%A%' AS no_a "
         "FROM (SELECT unnest(" + WORDS + ") AS s) ORDER BY s"),
    Case("regexp_options", "regex", "SELECT id, regexp_matches(note, 'NOTE 1', 'i') AS m, regexp_extract(note, 'N(O)TE', 1, 'i') "
         "AS x, regexp_extract_all(url, 'SHOP[0-9]', 0, 'i') AS a, regexp_matches(note, 'NOTE', 'ic') AS c "
         "FROM events ORDER BY id"),
    Case("regexp_options_unicode", "regex", "SELECT s, regexp_matches(s, 'É', 'i') AS e, regexp_matches(s, 'ας', 'i') AS sigma, "
         "regexp_replace(s, 'É', '*', 'i') AS r FROM (SELECT unnest(" + WORDS + ") AS s) ORDER BY s"),
    Case("regexp_options_other", "regex", "SELECT id, regexp_matches(note, 'n.te', 's') AS m FROM events", "regexp_options"),
]
