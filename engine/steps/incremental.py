"""Incremental steps: which rows are new (by watermark or time range), and how a batch is shaped
for its merge policy before it is published.

The state that says what has been read (watermark, intervals, files) is committed in the
warehouse together with the merged rows and copied to the ledger after; it is read back here
from the ledger, which the run reconciled from the warehouse's markers before it started.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowdeck.engine.backends.base import Backend, MergeSpec
from flowdeck.engine.errors import StepFailed
from flowdeck.engine.project.config.steps import IncrementalStep
from flowdeck.engine.sql.render import identifier, identifiers, string
from flowdeck.state import Ledger
from flowdeck.state.records import Interval, Watermark

LOAD_ID_COLUMN = "_fd_load_id"
MAX_INTERVALS = 1_000_000


@dataclass(frozen=True)
class Delta:
    """Which rows of the delta source a run reads, and the state to record once they are published."""

    predicate: str | None  # None: every row
    watermark: Watermark | None = None
    intervals: tuple[Interval, ...] = ()
    note: str = ""

    @property
    def nothing_new(self) -> bool:
        """Whether the predicate excludes every row."""
        return self.predicate == "false"


def merge_spec(config: IncrementalStep) -> MergeSpec:
    """The merge policy of an incremental step."""
    return MergeSpec(unique_key=tuple(config.unique_key or ()), on_duplicate=config.on_duplicate,
                     order_by=tuple(config.order_by or ()))


def plan_delta(backend: Backend, ledger: Ledger, warehouse_id: str, step: str, output: str,
               config: IncrementalStep, relation: str, source_name: str, *, reprocess: bool) -> Delta:
    """The rows of ``relation`` (the delta source, named ``source_name`` in messages) to read now."""
    if config.watermark is not None:
        return _watermark_delta(backend, ledger, warehouse_id, step, output, config.watermark, relation,
                                source_name, reprocess)
    if config.time_range is not None:
        return _time_range_delta(backend, ledger, warehouse_id, step, output, config, relation, source_name,
                                 reprocess)
    return Delta(predicate=None)


def _column_type(backend: Backend, relation: str, column: str, source_name: str, step: str) -> str:
    columns = dict(backend.columns(f"SELECT * FROM {relation}"))
    if column not in columns:
        raise StepFailed(
            f"step `{step}`: {source_name} has no column `{column}` (columns: {', '.join(columns)})",
            hint="fix `watermark:` or `time_range.column:` in pipeline.yaml",
        )
    return columns[column]


def _watermark_delta(backend: Backend, ledger: Ledger, warehouse_id: str, step: str, output: str, column: str,
                     relation: str, source_name: str, reprocess: bool) -> Delta:
    value_type = _column_type(backend, relation, column, source_name, step)
    previous = None if reprocess else ledger.watermark(warehouse_id, output, column)
    above = f"{identifier(column)} > CAST({string(previous.value)} AS {value_type})" if previous else "true"
    newest = backend.query(f"SELECT max({identifier(column)})::VARCHAR FROM {relation} WHERE {above}", limit=1).rows
    high = newest[0][0] if newest else None
    if high is None:
        return Delta(predicate="false", note=f"no rows of {source_name} with {column} above {previous.value}"
                     if previous else f"{source_name} has no rows with {column} set")
    # bounded above too, so rows arriving while the step runs wait for the next run
    predicate = f"{above} AND {identifier(column)} <= CAST({string(high)} AS {value_type})"
    since = f"above {previous.value} " if previous else ""
    return Delta(predicate=predicate, watermark=Watermark(column, high, value_type),
                 note=f"rows of {source_name} with {column} {since}up to {high}")


def _time_range_delta(backend: Backend, ledger: Ledger, warehouse_id: str, step: str, output: str,
                      config: IncrementalStep, relation: str, source_name: str, reprocess: bool) -> Delta:
    spec = config.time_range
    assert spec is not None
    column = identifier(spec.column)
    _column_type(backend, relation, spec.column, source_name, step)
    start = f"date_trunc({string(spec.unit)}, {column}::TIMESTAMP)"
    present = backend.query(
        f"SELECT DISTINCT {start}::VARCHAR, ({start} + INTERVAL 1 {spec.unit})::VARCHAR FROM {relation} "
        f"WHERE {column} IS NOT NULL ORDER BY 1", limit=MAX_INTERVALS,
    ).rows
    done = [] if reprocess else ledger.processed_intervals(warehouse_id, output, spec.column)
    done_starts = {interval.start for interval in done}
    again = {interval.start for interval in done[-spec.lookback:]} if spec.lookback else set()
    todo = [Interval(spec.column, str(begin), str(end)) for begin, end in present
            if begin not in done_starts or begin in again]
    if not todo:
        return Delta(predicate="false", note=f"every {spec.unit} of {source_name} is already processed")
    ranges: list[list[str]] = []
    for interval in todo:  # contiguous intervals become one range, so the predicate stays short
        if ranges and ranges[-1][1] == interval.start:
            ranges[-1][1] = interval.end
        else:
            ranges.append([interval.start, interval.end])
    predicate = " OR ".join(
        f"({column} >= CAST({string(low)} AS TIMESTAMP) AND {column} < CAST({string(high)} AS TIMESTAMP))"
        for low, high in ranges
    )
    return Delta(predicate=f"({predicate})", intervals=tuple(todo),
                 note=f"{len(todo)} {spec.unit}(s) of {source_name} from {todo[0].start}")


def shape_batch(sql: str, spec: MergeSpec, *, load_id: int | None = None, hash_ties: bool = True) -> str:
    """The batch query: for skip and update one row per key, then stamped with its load id (extracts).

    ``skip`` keeps a key's earliest row by ``order_by``, ``update`` its latest; ties are broken
    by the row's hash (taken before the load id is added), so the same input always gives the
    same batch. Without ``hash_ties`` (a backend without DuckDB's row hash) ties are left to the
    engine: ``refuse_ambiguous_ties`` has made sure that tied rows are equal.
    """
    if spec.on_duplicate in ("skip", "update"):
        keys = [f"b.{identifier(key)}" for key in spec.unique_key]
        # without a tie-break, any order will do (Spark wants one): the first rows are all equal
        order = _batch_order(spec) + ["hash(b)"] if hash_ties else _batch_order(spec) or keys
        sql = (f"SELECT * FROM (\n{sql}\n) AS b\n"
               f"QUALIFY row_number() OVER (PARTITION BY {', '.join(keys)} ORDER BY {', '.join(order)}) = 1")
    if load_id is not None:
        sql = f"SELECT *, {int(load_id)}::BIGINT AS {LOAD_ID_COLUMN} FROM (\n{sql}\n) AS stamped"
    return sql


def _batch_order(spec: MergeSpec) -> list[str]:
    direction = "DESC" if spec.on_duplicate == "update" else "ASC"
    return [f"b.{identifier(column)} {direction} NULLS LAST" for column in spec.order_by]


def refuse_ambiguous_ties(backend: Backend, sql: str, spec: MergeSpec, step: str) -> None:
    """For a backend that cannot break ties by DuckDB's row hash: fail when a key's first rows by
    ``order_by`` (skip: earliest, update: latest) are not all equal, since DuckDB would keep one
    of them by a hash no other engine computes. Equal tied rows give the same batch either way."""
    if spec.on_duplicate not in ("skip", "update"):
        return
    keys = identifiers(spec.unique_key)
    first = f"SELECT * FROM (\n{sql}\n) AS b"
    if spec.order_by:
        partition = identifiers(spec.unique_key, of="b")
        first += f"\nQUALIFY rank() OVER (PARTITION BY {partition} ORDER BY {', '.join(_batch_order(spec))}) = 1"
    tied = backend.failing_rows(
        f"SELECT {keys}, count(*) AS different_rows FROM (SELECT DISTINCT * FROM (\n{first}\n) AS first_rows) AS tied "
        f"GROUP BY {keys} HAVING count(*) > 1")
    if tied.count:
        by = f"`order_by` ({', '.join(spec.order_by)})" if spec.order_by else "`order_by` (none is set)"
        raise StepFailed(
            f"step `{step}`: {tied.count:,} value(s) of ({', '.join(spec.unique_key)}) have different rows that tie on "
            f"{by}; DuckDB would keep one of them by its own row hash, which the {backend.name} engine cannot "
            f"compute, so nothing was published; for example: {tied.sample[0]}",
            hint="add to `order_by:` a column that tells the rows of one key apart (see docs/spark.md)",
        )


def check_key_columns(backend: Backend, staged: str, spec: MergeSpec, step: str) -> None:
    """Fail clearly when ``unique_key`` or ``order_by`` names a column the batch does not have."""
    columns = [name for name, _ in backend.columns(f"SELECT * FROM {identifier(staged)}")]
    for setting, names in (("unique_key", spec.unique_key), ("order_by", spec.order_by)):
        missing = [name for name in names if name not in columns]
        if missing:
            raise StepFailed(
                f"step `{step}`: `{setting}` names {', '.join(missing)}, which the step's rows do not have "
                f"(columns: {', '.join(columns)})",
                hint=f"fix `{setting}:` in pipeline.yaml",
            )


def refuse_duplicates(backend: Backend, staged: str, output: str, spec: MergeSpec, step: str, *,
                      against_table: bool) -> None:
    """For ``on_duplicate: error``: fail when a key occurs twice in the batch, or is already in the table."""
    keys = identifiers(spec.unique_key)
    shown = ", ".join(spec.unique_key)
    inside = backend.failing_rows(
        f"SELECT {keys}, count(*) AS occurrences FROM {identifier(staged)} GROUP BY ALL HAVING count(*) > 1")
    if inside.count:
        raise StepFailed(
            f"step `{step}`: {inside.count:,} value(s) of ({shown}) occur more than once in the new rows "
            f"(on_duplicate: error); for example: {inside.sample[0]}",
            hint="fix the input, or choose on_duplicate: skip, update (with order_by) or keep",
        )
    if not against_table:
        return
    same_key = " AND ".join(f"t.{identifier(key)} IS NOT DISTINCT FROM b.{identifier(key)}" for key in spec.unique_key)
    existing = backend.failing_rows(
        f"SELECT {identifiers(spec.unique_key, of='b')} FROM {identifier(staged)} AS b "
        f"WHERE EXISTS (SELECT 1 FROM {identifier(output)} AS t WHERE {same_key})")
    if existing.count:
        raise StepFailed(
            f"step `{step}`: {existing.count:,} incoming value(s) of ({shown}) already exist in table {output} "
            f"(on_duplicate: error); for example: {existing.sample[0]}",
            hint="choose on_duplicate: skip, update (with order_by) or keep, or rebuild the table with --reprocess",
        )
