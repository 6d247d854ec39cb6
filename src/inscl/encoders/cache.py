"""A persistent embedding cache keyed by ``(encoder id, sha256 of text)``.

One SQLite file per encoder id under ``cache_dir`` (SQLite gives atomic commits, so an
interrupted run keeps every finished batch and a rerun encodes only what is missing).
A damaged file is moved aside (``<name>.corrupt-<time>``) with a warning and rebuilt; a
damaged row is encoded again; it never blocks another encoder's cache.
:class:`CachedEncoder` wraps any :class:`~inscl.encoders.base.Encoder` with it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from inscl.encoders.base import Encoder
from inscl.errors import InputError
from inscl.pathchecks import check_cache_dir

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    """The cache key of a text: hex sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_file_name(encoder_id: str) -> str:
    """A readable, collision-free file name for an encoder id."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", encoder_id)[:60].strip("_")
    return f"{slug}-{hashlib.sha256(encoder_id.encode('utf-8')).hexdigest()[:12]}.sqlite"


class EmbeddingCache:
    """Stored float32 vectors of one encoder id, in ``cache_dir/<slug>-<hash>.sqlite``."""

    def __init__(self, cache_dir: str | Path, encoder_id: str) -> None:
        self.encoder_id = encoder_id
        cache_dir = check_cache_dir(cache_dir)
        self.path = Path(cache_dir) / cache_file_name(encoder_id)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the embedding cache folder ({exc.strerror or exc})",
                             path=self.path.parent, field="--cache-dir") from None
        try:
            self._db = self._open()
        except sqlite3.OperationalError as exc:  # locked, read-only, no space: not the file's fault
            raise InputError(f"cannot open the embedding cache ({exc})", path=self.path,
                             field="--cache-dir") from None
        except sqlite3.DatabaseError as exc:
            # A damaged file blocks only this encoder: set it aside and start a new one.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            log.warning("%s: unreadable embedding cache (%s) moved to %s; its vectors are computed again "
                        "(delete %s once you no longer need it)", self.path, exc, aside.name, aside)
            self._db = self._open()
        row = self._db.execute("SELECT value FROM meta WHERE key='encoder_id'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('encoder_id', ?)", (encoder_id,))
            self._db.commit()
        elif row[0] != encoder_id:
            raise InputError(f"cache file belongs to encoder {row[0]!r}, not {encoder_id!r}", path=self.path)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, dim INTEGER, vec BLOB)")
            db.execute("SELECT COUNT(*) FROM vectors").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors stored for ``keys`` (missing keys are absent from the result)."""
        found: dict[str, np.ndarray] = {}
        bad = 0
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # SQLite's parameter limit
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, dim, blob in self._db.execute(
                    f"SELECT key, dim, vec FROM vectors WHERE key IN ({marks})", chunk):
                if not isinstance(blob, bytes) or not isinstance(dim, int) or dim < 1 or len(blob) != 4 * dim:
                    bad += 1  # a damaged row: treated as missing, so it is encoded again and replaced
                    continue
                found[key] = np.frombuffer(blob, dtype=np.float32, count=dim)
        if bad:
            log.warning("%s: %d damaged vector(s) ignored; they are encoded again", self.path, bad)
        return found

    def put_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Stores vectors and commits, so they survive an interruption right after."""
        rows = [(k, int(v.shape[0]), np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items]
        self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
        self._db.commit()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class CachedEncoder:
    """An :class:`Encoder` that serves stored vectors and encodes only missing texts.

    Missing texts are encoded in batches of ``batch_size`` and each batch is committed
    at once, so work done before an interruption is never repeated.
    """

    def __init__(self, inner: Encoder, cache_dir: str | Path, batch_size: int = 64,
                 progress: bool | None = None) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
        self.inner = inner
        self.id = inner.id
        self.batch_size = batch_size
        self.progress = progress  # None: show only on a TTY
        self.cache = EmbeddingCache(cache_dir, inner.id)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        keys = [text_key(t) for t in texts]
        found = self.cache.get_many(keys)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in found))
        if missing:
            disable = None if self.progress is None else not self.progress
            with tqdm(total=len(missing), desc=f"encode {self.id[:40]}", unit="text", disable=disable) as bar:
                for start in range(0, len(missing), self.batch_size):
                    batch = missing[start:start + self.batch_size]
                    vecs = np.asarray(self.inner.encode(batch), dtype=np.float32)
                    items = [(text_key(t), v) for t, v in zip(batch, vecs)]
                    self.cache.put_many(items)
                    found.update(items)
                    bar.update(len(batch))
        if not texts:
            return np.asarray(self.inner.encode([]), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
