"""Output folders that never cost a user their data.

Every folder ``inscl`` writes as a whole (a plan folder, a run folder) holds a marker
file :data:`MARKER`, a small JSON document ``{"format": "inscl-output/1", "kind": ...,
"created": ...}``. ``--force`` replaces only a folder that holds the marker of the same
kind, or an empty one; anything else is refused with a list of what would have been
deleted. An output folder that is, contains or lies inside an input path is refused
outright. Folders are built under a temporary name beside their target with normal
(umask) permissions and renamed into place (see docs/reliability.md).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from inscl.errors import InputError
from inscl.pathchecks import check_output_dir_parent

__all__ = ["MARKER", "MARKER_FORMAT", "check_output_dir", "check_reusable_dir", "describe", "is_ours",
           "make_temp_dir", "overlap", "read_marker", "replace_dir", "write_marker"]

log = logging.getLogger(__name__)

MARKER = ".inscl-output"
MARKER_FORMAT = "inscl-output/1"
# Folders written before the marker existed are recognised by these files.
LEGACY_FILES = {"plan": ("plan.json", "dataset_info.json"), "run": ("config.sha256",)}


def write_marker(folder: str | Path, kind: str) -> None:
    """Writes the marker that lets ``--force`` replace ``folder`` later."""
    from inscl import __version__
    from inscl.data.jsonio import write_json

    write_json(Path(folder) / MARKER, {
        "format": MARKER_FORMAT, "kind": kind, "inscl_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})


def read_marker(folder: str | Path) -> dict[str, Any] | None:
    """The marker document of ``folder``, or ``None`` when it has none (or an unreadable one)."""
    path = Path(folder) / MARKER
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != MARKER_FORMAT or not isinstance(doc.get("kind"), str):
        return None
    return doc


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def overlap(out: str | Path, inputs: Iterable[str | Path]) -> tuple[Path, str] | None:
    """The first input that ``out`` is, contains or lies inside, with the relation in words."""
    target = _resolved(out)
    for given in inputs:
        src = _resolved(given)
        if target == src:
            return Path(given), "is"
        if target in src.parents:
            return Path(given), "contains"
        if src in target.parents:
            return Path(given), "is inside"
    return None


def describe(folder: str | Path, limit: int = 5) -> str:
    """What deleting ``folder`` would delete, in words: counts and the first few names."""
    folder = Path(folder)
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    n_files = n_dirs = 0
    for root, dirs, files in os.walk(folder):
        n_files += len(files)
        n_dirs += len(dirs)
    names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in entries[:limit])
    more = ", ..." if len(entries) > limit else ""
    return f"{n_files} file(s) in {n_dirs + 1} folder(s): {names}{more}"


def _check_place(out: Path, inputs: Iterable[str | Path], field: str | None,
                 owned: Collection[str] | None = None) -> None:
    hit = overlap(out, inputs)
    if hit is not None and hit[1] == "contains" and owned is not None:
        # Only the entries the command writes (and may remove) must stay clear of the inputs.
        inside = _resolved(hit[0]).relative_to(_resolved(out)).parts[0]
        hit = hit if inside in owned else None
    if hit is not None:
        src, relation = hit
        raise InputError(f"{relation} the input path {src}; writing there could destroy your data "
                         f"(choose an output folder outside the inputs)", path=out, field=field)
    check_output_dir_parent(out, field)


def is_ours(folder: str | Path, kind: str) -> bool:
    """``folder`` holds the marker of ``kind`` (or, without a marker, the files an older inscl
    wrote there: :data:`LEGACY_FILES`)."""
    folder = Path(folder)
    marker = read_marker(folder)
    if marker is not None:
        return bool(marker["kind"] == kind)
    legacy = LEGACY_FILES.get(kind, ())
    return bool(legacy) and all((folder / name).exists() for name in legacy)


def check_reusable_dir(out: str | Path, *, kind: str, inputs: Iterable[str | Path] = (),
                       field: str | None = "output_dir", owned: Collection[str] | None = None) -> None:
    """Refuses a folder that a resumable command (``inscl run``) must not write into: one
    that is or lies inside an input, one that contains an input (with ``owned``: inside one
    of the entries ``owned`` names, those the command writes and may remove), or a
    non-empty folder without the marker of ``kind``. An empty, new or marked folder is
    fine (a marked one is resumed)."""
    out = Path(out)
    _check_place(out, inputs, field, owned)
    if not out.is_dir() or not any(out.iterdir()) or is_ours(out, kind):
        return
    marker = read_marker(out)
    what = (f"holds an inscl {marker['kind']} folder, not a {kind} folder" if marker is not None
            else f"exists, is not empty and was not written by inscl {kind} (no {MARKER} marker)")
    raise InputError(f"{what}; it holds {describe(out)}: choose another output folder or an empty one",
                     path=out, field=field)


def check_output_dir(out: str | Path, *, kind: str, force: bool, inputs: Iterable[str | Path] = (),
                     field: str | None = "--out", force_flag: str = "--force") -> None:
    """Refuses an output folder that writing (with ``force``: replacing) would harm.

    ``inputs`` are the paths the command reads (``out`` may not be, contain or lie inside
    one). An existing non-empty ``out`` is replaced only with ``force`` and only when it
    holds the marker of ``kind`` (see :func:`is_ours`).
    """
    out = Path(out)
    _check_place(out, inputs, field)
    if not out.is_dir() or not any(out.iterdir()):
        return
    marker = read_marker(out)
    ours = is_ours(out, kind)
    if not force:
        hint = f"pass {force_flag} to replace it" if ours else "choose another output folder"
        raise InputError(f"exists and is not empty ({describe(out)}); {hint}", path=out, field=field)
    if not ours:
        what = (f"holds an inscl {marker['kind']} folder, not a {kind} folder" if marker is not None
                else f"was not written by inscl (no {MARKER} marker)")
        raise InputError(f"{what}; {force_flag} replaces only a {kind} folder written by inscl, or an empty "
                         f"one, and would delete {describe(out)}: remove them yourself or choose another "
                         "output folder", path=out, field=field)


def make_temp_dir(beside: str | Path, prefix: str) -> Path:
    """A fresh folder beside ``beside`` (same file system, so it can be renamed into place)
    with the usual permissions (``mkdtemp`` creates 0700, unreadable to other users)."""
    beside = Path(beside)
    beside.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=beside.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)
    return tmp


def replace_dir(src: Path, dst: Path, kind: str) -> None:
    """Moves the finished folder ``src`` to ``dst``; an existing ``dst`` (checked by
    :func:`check_output_dir`) is removed only once ``src`` is in place."""
    if not dst.exists():
        os.replace(src, dst)
        return
    if dst.is_dir() and not any(dst.iterdir()):
        dst.rmdir()
        os.replace(src, dst)
        return
    log.info("replacing %s (an earlier inscl %s folder: %s)", dst, kind, describe(dst))
    old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
    os.replace(dst, old)
    try:
        os.replace(src, dst)
    except BaseException:
        os.replace(old, dst)
        raise
    if old.is_symlink():  # --out was a link: the link goes, the folder it pointed to is left alone
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)
