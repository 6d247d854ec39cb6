"""Errors raised for bad user input.

Every problem the user can fix is an :class:`InputError` that names the file, the
line (when the format has lines) and the field. The CLI prints its message and
exits with status 2; nothing else is reported as a traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """A user-fixable problem in an input file, a config or a CLI argument."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path:
            where.append(self.path if self.line is None else f"{self.path}:{self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        return (", ".join(where) + ": " if where else "") + self.reason


class ConfigError(InputError):
    """An invalid configuration value (experiment YAML, planner parameters)."""
