"""Checks of input and output paths, run before any expensive work.

Each check either returns quietly or raises an :class:`~inscl.errors.InputError` that
names the path and the flag it came from, so that a typo in ``--out`` is reported in a
second rather than after an hour of planning or training. Symbolic links are followed;
a dangling or looping link is an error naming the link.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from inscl.errors import InputError

__all__ = ["broken_link_reason", "check_cache_dir", "check_input", "check_output_dir_parent",
           "check_output_file", "nearest_existing"]


def broken_link_reason(path: str | Path) -> str | None:
    """Why ``path`` cannot be followed (a dangling or looping symbolic link), else ``None``."""
    path = Path(path)
    try:
        os.stat(path)
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link points back to itself)"
        if path.is_symlink():
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return f"dangling symbolic link (its target {target} does not exist)"
        return None


def check_input(path: str | Path, field: str | None, kind: str = "any") -> Path:
    """``path`` exists (following links), is readable and is a ``"file"``, a ``"dir"`` or ``"any"``."""
    path = Path(path)
    reason = broken_link_reason(path)
    if reason:
        raise InputError(reason, path=path, field=field)
    if not path.exists():
        raise InputError("no such file or directory", path=path, field=field)
    if kind == "file" and path.is_dir():
        raise InputError("is a folder, expected a file", path=path, field=field)
    if kind == "dir" and not path.is_dir():
        raise InputError("is not a folder", path=path, field=field)
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise InputError("permission denied (not readable)", path=path, field=field)
    return path


def nearest_existing(path: str | Path) -> Path:
    """``path`` or its closest ancestor that exists (what creating ``path`` would write into)."""
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _probe_writable(folder: Path, path: Path, field: str | None) -> None:
    """Creates and removes an empty folder in ``folder``: the one sure test of writability
    (``os.access`` says yes to root on a read-only file system or in ``/proc``)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"folder {folder} is not writable", path=path, field=field)
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".inscl-probe-", dir=folder))
    except OSError as exc:
        raise InputError(f"cannot write in folder {folder} ({exc.strerror or exc})", path=path,
                         field=field) from None


def _check_creatable(path: Path, field: str | None) -> None:
    """The folders missing above ``path`` can be created: their nearest existing ancestor
    is a writable folder."""
    base = nearest_existing(path.parent)
    reason = broken_link_reason(base)
    if reason:
        raise InputError(reason, path=base, field=field)
    if not base.is_dir():
        raise InputError(f"cannot be created: {base} is a file, not a folder", path=path, field=field)
    _probe_writable(base, path, field)


def check_output_file(path: str | Path, field: str | None, inputs: Sequence[str | Path] = ()) -> Path:
    """``path`` can be written as a file (written atomically beside itself), and it is not one
    of ``inputs`` nor inside an input folder (where it would be read as data next time)."""
    path = Path(path)
    target = Path(os.path.realpath(path))
    for given in inputs:
        src = Path(os.path.realpath(given))
        if target == src or src in target.parents:
            relation = "is" if target == src else "is inside"
            raise InputError(f"{relation} the input path {given}; choose an output file outside the inputs",
                             path=path, field=field)
    if path.is_dir():
        raise InputError("is a folder; give a file name", path=path, field=field)
    reason = broken_link_reason(path) if path.is_symlink() else None
    if reason:
        raise InputError(reason, path=path, field=field)
    _check_creatable(path, field)
    return path


def check_output_dir_parent(path: str | Path, field: str | None) -> Path:
    """The folder ``path`` can be created or replaced: it is not a file and its parent is writable
    (output folders are built beside themselves and renamed into place)."""
    path = Path(path)
    reason = broken_link_reason(path) if path.is_symlink() else None
    if reason:
        raise InputError(reason, path=path, field=field)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is a file, not a folder", path=path, field=field)
    _check_creatable(path, field)
    return path


def check_cache_dir(path: str | Path, field: str | None = "--cache-dir") -> Path:
    """``path`` is a writable folder, or one that can be created."""
    path = Path(path)
    reason = broken_link_reason(path) if path.is_symlink() else None
    if reason:
        raise InputError(reason, path=path, field=field)
    if path.exists():
        if not path.is_dir():
            raise InputError("is a file; the cache needs a folder", path=path, field=field)
        _probe_writable(path, path, field)
        return path
    base = nearest_existing(path)
    if not base.is_dir():
        raise InputError(f"cannot be created: {base} is a file, not a folder", path=path, field=field)
    _probe_writable(base, path, field)
    return path
