"""An append-only JSONL tag cache that survives crashes, and the caching tagger.

Each finished instruction is appended as one line
``{"instruction": str, "tags": [str], "tagger": id}`` and flushed + fsynced at once,
so Ctrl-C or a crash loses nothing and a rerun tags only what is missing. A truncated
last line (a write cut by a crash) is cut off on reload; any other unreadable line is
moved to ``quarantine.jsonl`` (see :class:`TagCache`), so it never blocks the cache. The same JSONL is accepted
by ``inscl plan --tags``. Failures go to a separate ``failures.jsonl``
(``{"instruction", "error", "attempts", "tagger"}``) and are retried on the next run.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, NamedTuple, Protocol

from tqdm.auto import tqdm

from inscl.data.jsonio import BOM, atomic_write_bytes, decode_utf8, loads
from inscl.errors import InputError
from inscl.pathchecks import check_cache_dir
from inscl.taggers.result import TagResult

log = logging.getLogger(__name__)


def tagger_dir_name(tagger_id: str) -> str:
    """A readable, collision-free folder name for a tagger id."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", tagger_id)[:60].strip("_")
    return f"{slug}-{hashlib.sha256(tagger_id.encode('utf-8')).hexdigest()[:12]}"


def _append_line(fh: IO[str], record: dict, sync: bool = True) -> None:
    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    fh.flush()  # in the OS's hands: survives Ctrl-C and a crash of this process
    if sync:
        os.fsync(fh.fileno())  # on disk: survives a power cut too


# fsync once per this many lines (and on close): one fsync per line cost 6 ms, i.e. more
# than tagging the line with the offline tagger. Every line is flushed at once anyway.
_SYNC_EVERY = 256


def read_tags_jsonl(path: str | Path, tagger_id: str | None = None, strict: bool = True,
                    bad_lines: list[BadLine] | None = None) -> dict[str, list[str]]:
    """Reads a tag JSONL file into ``{instruction: tags}`` (a later line wins).

    ``tagger_id`` keeps only lines of that tagger. With ``strict`` (user-supplied
    files) a bad line raises :class:`InputError` naming file, line and field; without
    it (our own cache) every unreadable line is skipped and, when ``bad_lines`` is
    given, appended to it, so that one bad line never blocks the rest of the cache.
    Lines are split on ``"\\n"`` only (see :mod:`inscl.data.jsonio`).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror or exc})", path=path) from None
    if strict:
        decode_utf8(data, path)  # names the line of bad UTF-8
    if data.startswith(BOM.encode("utf-8")):
        data = data[3:]
    out: dict[str, list[str]] = {}
    for i, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            record = _tag_record(raw, path, i)
        except InputError as exc:
            if strict:
                raise
            if bad_lines is not None:
                bad_lines.append(BadLine(i, raw, exc.reason))
            continue
        if tagger_id is not None and record.get("tagger") not in (None, tagger_id):
            continue
        out[record["instruction"]] = record["tags"]
    return out


class BadLine(NamedTuple):
    """An unreadable line of a cache file: its number, its bytes and why."""

    line: int
    raw: bytes
    reason: str


def _tag_record(raw: bytes, path: Path, line: int) -> dict:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start} of the line)", path=path, line=line) from None
    record = loads(text, path, line, what="JSON line")
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object, got {type(record).__name__}", path=path, line=line)
    instruction, tags = record.get("instruction"), record.get("tags")
    if not isinstance(instruction, str):
        raise InputError("missing or non-string value", path=path, line=line, field="instruction")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InputError("expected a list of strings", path=path, line=line, field="tags")
    return record


class TagCache:
    """Tags of one tagger id in ``cache_dir/<slug>-<hash>/tags.jsonl`` (+ ``failures.jsonl``).

    A line that cannot be read (hand edits, disk errors, a writer of another version) is
    moved to ``quarantine.jsonl`` beside it, one ``{"line", "error", "text", "quarantined"}``
    object per line, with a warning that says how to repair it; the rest of the cache is
    used as usual and the instruction of the bad line is tagged again when needed.
    """

    def __init__(self, cache_dir: str | Path, tagger_id: str) -> None:
        self.tagger_id = tagger_id
        cache_dir = check_cache_dir(cache_dir)
        self.dir = Path(cache_dir) / tagger_dir_name(tagger_id)
        self.path = self.dir / "tags.jsonl"
        self.failures_path = self.dir / "failures.jsonl"
        self.quarantine_path = self.dir / "quarantine.jsonl"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the tag cache folder ({exc.strerror or exc})", path=self.dir,
                             field="--cache-dir") from None
        if not self.dir.is_dir() or not os.access(self.dir, os.W_OK | os.X_OK):
            raise InputError("the tag cache folder is not writable", path=self.dir, field="--cache-dir")
        self._repair_tail()
        bad: list[BadLine] = []
        self.tags: dict[str, list[str]] = (read_tags_jsonl(self.path, tagger_id, strict=False, bad_lines=bad)
                                           if self.path.exists() else {})
        if bad:
            self._quarantine(bad)
        self._fh: IO[str] | None = None
        self._unsynced = 0  # lines appended since the last fsync
        self._failures_fh: IO[str] | None = None

    def _quarantine(self, bad: list[BadLine]) -> None:
        """Moves unreadable lines out of ``tags.jsonl`` into ``quarantine.jsonl``."""
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        with open(self.quarantine_path, "a", encoding="utf-8") as fh:
            for b in bad:
                _append_line(fh, {"line": b.line, "error": b.reason, "quarantined": stamp,
                                  "text": b.raw.decode("utf-8", "backslashreplace")})
        drop = {b.line for b in bad}
        data = self.path.read_bytes()
        kept = [raw for i, raw in enumerate(data.split(b"\n"), 1) if i not in drop]
        atomic_write_bytes(self.path, b"\n".join(kept))  # the file had its newlines; so it keeps them
        for b in bad:
            log.warning("%s:%d: unreadable tag-cache line (%s) moved to %s; to repair it, fix the line there "
                        "and append it to %s, or delete it to have the instruction tagged again", self.path,
                        b.line, b.reason, self.quarantine_path, self.path.name)

    def _repair_tail(self) -> None:
        # A crash may leave a last line without its newline: cut it off so the next
        # append starts on a fresh line (its content is tagged again).
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            try:
                json.loads(data[cut:].decode("utf-8"))
                complete = True
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                complete = False
                log.warning("%s: ignoring a truncated last line (a write cut short); it is tagged again",
                            self.path)
            with open(self.path, "r+b") as fh:
                if complete:  # only the newline is missing
                    fh.seek(0, os.SEEK_END)
                    fh.write(b"\n")
                else:
                    fh.truncate(cut)

    def __contains__(self, instruction: str) -> bool:
        return instruction in self.tags

    def __len__(self) -> int:
        return len(self.tags)

    def add(self, instruction: str, tags: list[str]) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open, closed by close())
        self._unsynced += 1
        sync = self._unsynced >= _SYNC_EVERY
        _append_line(self._fh, {"instruction": instruction, "tags": list(tags), "tagger": self.tagger_id}, sync)
        if sync:
            self._unsynced = 0
        self.tags[instruction] = list(tags)

    def add_failure(self, result: TagResult) -> None:
        if self._failures_fh is None:
            self._failures_fh = open(self.failures_path, "a", encoding="utf-8")  # noqa: SIM115
        _append_line(self._failures_fh, {"instruction": result.instruction, "error": result.error,
                                         "attempts": result.attempts, "tagger": self.tagger_id})

    def close(self) -> None:
        for fh in (self._fh, self._failures_fh):
            if fh is not None:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
        self._unsynced = 0
        self._fh = self._failures_fh = None


class StreamingTagger(Protocol):
    """A tagger that yields one :class:`TagResult` per instruction as each finishes."""

    id: str

    def tag_iter(self, instructions: Sequence[str]) -> Iterator[TagResult]: ...


class CachedTagger:
    """A :class:`~inscl.taggers.base.Tagger` that persists each result on arrival.

    Only instructions missing from the cache are sent to ``inner``. Failed
    instructions map to ``[]`` in the result (InsInfo 0), are listed in
    :attr:`last_failures` and ``failures.jsonl``, and are retried on the next call.
    """

    def __init__(self, inner: StreamingTagger, cache_dir: str | Path, progress: bool | None = None) -> None:
        self.inner = inner
        self.id = inner.id
        self.progress = progress
        self.cache = TagCache(cache_dir, inner.id)
        self.last_failures: list[TagResult] = []
        self.last_tagged = 0  # instructions sent to the inner tagger by the last call

    def tag(self, instructions: Sequence[str]) -> dict[str, list[str]]:
        wanted = list(dict.fromkeys(instructions))
        missing = [s for s in wanted if s not in self.cache]
        self.last_failures = []
        self.last_tagged = len(missing)
        if missing:
            disable = None if self.progress is None else not self.progress
            try:
                with tqdm(total=len(missing), desc=f"tag {self.id[:40]}", unit="instr",
                          disable=disable) as bar:
                    for result in self.inner.tag_iter(missing):
                        if result.ok:
                            self.cache.add(result.instruction, result.tags or [])
                        else:
                            self.cache.add_failure(result)
                            self.last_failures.append(result)
                        bar.update(1)
            finally:
                self.cache.close()
        if self.last_failures:
            log.warning("%d of %d instructions could not be tagged by %s (see %s); rerun to retry them",
                        len(self.last_failures), len(missing), self.id, self.cache.failures_path)
        return {s: list(self.cache.tags.get(s, [])) for s in wanted}
