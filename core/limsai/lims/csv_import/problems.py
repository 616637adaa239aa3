"""How the import reports a bad file: one :class:`CsvProblem` per finding, naming the line as a text
editor counts it and the column, and the :class:`CsvImportError` that refuses the whole file with the
first ``MAX_PROBLEMS`` of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class CsvProblem:
    """One problem of the file: where (line as an editor counts it, column) and what."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = "file" if self.line is None else f"line {self.line}"
        return f"{where}, column {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class CsvImportError(ValueError):
    """The file cannot be imported: ``problems`` holds the first ``MAX_PROBLEMS`` of ``total``."""

    def __init__(self, path: Path, problems: list[CsvProblem]) -> None:
        ordered = sorted(problems, key=lambda p: p.line or 0)
        self.path, self.total, self.problems = path, len(ordered), ordered[:MAX_PROBLEMS]
        more = f"\n  ... and {self.total - MAX_PROBLEMS} more" if self.total > MAX_PROBLEMS else ""
        text = "\n".join(f"  {p}" for p in self.problems) + more
        super().__init__(f"{path.name}: {self.total} problem(s), nothing imported:\n{text}")
