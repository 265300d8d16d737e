"""The results table as it lies on disk, read-only: the journal, the table files, and the
typed frame with the schema's columns. Shared by the harness (which writes the directory,
``dsm_bench.harness.store``) and the reports (which only read it); imports only the schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from dsm_bench.schema import BOOL_COLUMNS, COLUMNS, FLOAT_COLUMNS, INT_COLUMNS

__all__ = ["CSV", "IDENTITY_COLUMNS", "JOURNAL", "PARQUET", "ResultsError", "journal_problem",
           "journal_rows",
           "latest_rows", "read_table_file", "read_without_journal", "results_frame",
           "table_file_problem"]

JOURNAL, PARQUET, CSV = "results.jsonl", "results.parquet", "results.csv"
# the columns without which a table cannot be read as results at all
IDENTITY_COLUMNS = ("config_hash", "solver", "problem", "status")


class ResultsError(FileNotFoundError):
    """No usable results table in a directory: missing, or unreadable with no journal to
    rebuild it from. (A FileNotFoundError, so that every caller that reports a missing table
    with exit status 2 reports this one the same way.)"""


def journal_rows(journal: Path) -> list[dict[str, Any]]:
    """Every row of the journal in order (a line torn by a kill mid-write is skipped).
    ResultsError when it is not a file, or has whole lines and none of them is a row: not a
    journal of results, which no reader should take for an empty one."""
    if not journal.exists():
        return []
    if not journal.is_file():
        raise ResultsError(f"{journal} is not a file: not a results journal")
    try:
        text = journal.read_text(errors="replace")
    except OSError as exc:
        raise ResultsError(f"{journal} cannot be read: {exc.strerror or exc}") from None
    out = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "config_hash" in row:
            out.append(row)
    # a single line without its newline is a first row torn by a kill: the sweep resumes
    whole = text[: text.rfind("\n") + 1]
    if not out and whole.strip():
        raise ResultsError(f"{journal} has no readable row (none of its lines is a results "
                           "row): not a results journal")
    return out


def journal_problem(journal: Path) -> str | None:
    """Why a report cannot be made from ``journal`` (None: it holds rows, or is absent)."""
    try:
        if journal.exists() and not journal_rows(journal):
            return f"{journal} holds no results row yet"
    except ResultsError as exc:
        return str(exc)
    return None


def latest_rows(journal: Path) -> dict[str, dict[str, Any]]:
    """The last row of every config hash (retries), in order of first appearance."""
    latest: dict[str, dict[str, Any]] = {}
    for row in journal_rows(journal):
        latest[row["config_hash"]] = row
    return latest


def read_table_file(path: Path) -> pd.DataFrame:
    """results.parquet or results.csv as pandas reads it."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"config_hash": str})


def table_file_problem(path: Path, expected: pd.DataFrame) -> str | None:
    """Why the table file at ``path`` does not hold ``expected`` (None: it does)."""
    if not path.exists():
        return "is missing"
    try:
        table = read_table_file(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow / pandas raise many kinds on garbage
        return f"is unreadable ({type(exc).__name__}: {str(exc)[:200]})"
    if list(table.columns) != COLUMNS:
        return "does not have the results columns"
    if table["config_hash"].astype(str).tolist() != expected["config_hash"].astype(str).tolist():
        return f"is behind the journal ({len(table)} rows, the journal has {len(expected)})"
    return None


def read_without_journal(directory: Path) -> pd.DataFrame:
    """results.parquet, else results.csv, of a directory without a journal; ResultsError
    naming the file when neither exists, or the one there is unreadable or lacks the identity
    columns."""
    for name in (PARQUET, CSV):
        path = directory / name
        if not path.exists():
            continue
        try:
            table = read_table_file(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow / pandas raise many kinds on garbage
            raise ResultsError(f"{path} is unreadable ({type(exc).__name__}: {str(exc)[:200]}) "
                               f"and there is no {JOURNAL} to rebuild it from") from None
        missing = [c for c in IDENTITY_COLUMNS if c not in table.columns]
        if missing:
            raise ResultsError(f"{path} lacks the column(s) {', '.join(missing)}: not a results "
                               f"table, and there is no {JOURNAL} to rebuild it from")
        return table
    raise ResultsError(f"no results in {directory} (expected {JOURNAL}, {PARQUET} or {CSV})")


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> the typed table with exactly the schema's columns, in the schema's order."""
    frame = pd.DataFrame([{c: row.get(c) for c in COLUMNS} for row in rows], columns=COLUMNS)
    for c in INT_COLUMNS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("Int64")
    for c in FLOAT_COLUMNS:
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    for c in BOOL_COLUMNS:
        frame[c] = frame[c].astype("boolean")
    for c in set(COLUMNS) - set(INT_COLUMNS) - set(FLOAT_COLUMNS) - set(BOOL_COLUMNS):
        frame[c] = frame[c].map(_text, na_action="ignore").astype("string")
    return frame



def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
