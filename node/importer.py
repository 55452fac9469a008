"""Many posts from one file: a CSV with a header row, or JSON lines (one object a line),
read as rows of values by name, each with its line number. What a row posts (a new
item or a change of one) is node/cli_entries.py's: every row is checked before
anything is written; a bad row is reported with its line number and then nothing at
all is appended.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from node.errors import BadImportFile

MAX_ROWS = 100_000


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise BadImportFile(f"{name} line {line}: not UTF-8 text (save it as UTF-8)") from None


def _is_json_lines(name: str, text: str) -> bool:
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return False
    if suffix in (".jsonl", ".ndjson", ".json"):
        return True
    return text.lstrip().startswith("{")


def read_rows(data: bytes, name: str) -> list[tuple[int, dict[str, str | None]]]:
    """(line number, field values) for every row of the file."""
    text = _text(data, name)
    rows: list[tuple[int, dict[str, str | None]]] = []
    if _is_json_lines(name, text):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise BadImportFile(f"{name} line {number}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise BadImportFile(f"{name} line {number}: each line must be a JSON object")
            for key, value in obj.items():
                if value is not None and not isinstance(value, str):
                    raise BadImportFile(f"{name} line {number}: {key!r} must be text")
            rows.append((number, obj))
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        try:
            header = reader.fieldnames
            if not header:
                raise BadImportFile(f"{name}: the file is empty; it needs a header row")
            start = reader.line_num + 1
            for row in reader:
                if None in row:
                    raise BadImportFile(
                        f"{name} line {start}: more cells than the header has columns"
                    )
                rows.append((start, {k: (v or None) for k, v in row.items()}))
                start = reader.line_num + 1
        except csv.Error as e:
            raise BadImportFile(f"{name} line {reader.line_num}: not valid CSV ({e})") from None
    if len(rows) > MAX_ROWS:
        raise BadImportFile(f"{name} has {len(rows)} rows; at most {MAX_ROWS} in one go")
    return rows
