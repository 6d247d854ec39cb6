"""Precomputed instruction embeddings and intention tags, read from files.

Planning with embeddings and tags computed elsewhere (``inscl embed``, ``inscl tag``, or
any other tool) keeps models out of the planner. Two embedding formats are read:

* ``.npz`` with two arrays, ``texts`` (n strings) and ``embeddings`` (n x d floats);
* JSONL (any other suffix), one ``{"text": ..., "embedding": [...]}`` object per line.

Tags are read from JSONL (one ``{"instruction": ..., "tags": ...}`` object per line, extra
fields ignored: the taggers' cache, ``llm-tags.jsonl``), a JSON list of such objects, or a
JSON object ``{instruction: tags}``. ``tags`` may be in any shape a tagger returns: a list
of strings, a list of InsTag objects ``{"tag": ..., "explanation": ...}``, or the model's
raw reply as a string holding such a list (parsed like the LLM tagger parses replies).
"""

from __future__ import annotations

import hashlib
import math
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from inscl.data.jsonio import iter_jsonl, read_json, write_jsonl
from inscl.errors import InputError

__all__ = ["PrecomputedEncoder", "load_embeddings", "load_tags", "save_embeddings"]


class PrecomputedEncoder:
    """An :class:`inscl.encoders.Encoder` that looks texts up in a fixed table.

    Parameters
    ----------
    vectors:
        Text -> 1-D vector; all vectors must have the same length.
    id:
        Encoder id (caches key on it). Defaults to a digest of the table so two
        different tables never share an id.
    source:
        The file the table came from; named in the error for a missing text.
    kind:
        What the texts are ("instruction", "tag"), for that error message.
    hint:
        Appended to that error message (how to fix it).
    """

    def __init__(self, vectors: Mapping[str, np.ndarray], id: str | None = None,
                 source: str | Path | None = None, kind: str = "instruction",
                 hint: str | None = None) -> None:
        self.source = str(source) if source is not None else None
        self.kind = kind
        self.hint = hint
        table: dict[str, np.ndarray] = {}
        dim: int | None = None
        for text, vec in vectors.items():
            arr = np.asarray(vec, dtype=np.float32)
            if arr.ndim != 1 or arr.size == 0:
                raise InputError(f"embedding of {_short(text)} must be a non-empty 1-D vector, got shape {arr.shape}",
                                 path=self.source, field="embedding")
            if dim is None:
                dim = arr.size
            elif arr.size != dim:
                raise InputError(f"embedding of {_short(text)} has {arr.size} dimensions, expected {dim}",
                                 path=self.source, field="embedding")
            table[str(text)] = arr
        self.vectors: dict[str, np.ndarray] = table
        self.dim: int = dim or 0
        self.id: str = id or f"precomputed:{_digest(table)}"

    def __len__(self) -> int:
        return len(self.vectors)

    def __contains__(self, text: object) -> bool:
        return text in self.vectors

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Stacks the stored vectors of ``texts`` (float32, shape ``(len(texts), dim)``)."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            try:
                out[i] = self.vectors[text]
            except KeyError:
                hint = f"; {self.hint}" if self.hint else ""
                raise InputError(f"no embedding for {self.kind} {_short(text)}{hint}", path=self.source) from None
        return out


def load_embeddings(path: str | Path, kind: str = "instruction", hint: str | None = None) -> PrecomputedEncoder:
    """Reads an embeddings file (``.npz`` or JSONL) into a :class:`PrecomputedEncoder`."""
    path = Path(path)
    if path.suffix == ".npz":
        vectors = _read_npz(path)
    else:
        vectors = _read_embeddings_jsonl(path)
    if not vectors:
        raise InputError("no embeddings in file", path=path)
    return PrecomputedEncoder(vectors, source=path, kind=kind, hint=hint)


def save_embeddings(path: str | Path, texts: Sequence[str], matrix: np.ndarray) -> None:
    """Writes ``texts`` and their rows of ``matrix`` as ``.npz`` (by suffix) or JSONL, atomically."""
    path = Path(path)
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(texts):
        raise ValueError(f"matrix must have shape ({len(texts)}, d), got {matrix.shape}")
    if path.suffix == ".npz":
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        try:
            np.savez(tmp, texts=np.asarray(list(texts), dtype=str), embeddings=matrix)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        write_jsonl(path, ({"text": t, "embedding": [float(x) for x in row]} for t, row in zip(texts, matrix)))


class TagTable(dict):  # type: ignore[type-arg]
    """``{instruction: [tags]}`` that remembers the file it was read from (named in errors)."""

    source: str | None = None


def load_tags(path: str | Path) -> dict[str, list[str]]:
    """Reads instruction -> raw intention tags from JSONL, a JSON list of records or a JSON object.

    A ``.json`` file holds an object ``{instruction: tags}`` or a list of
    ``{"instruction", "tags"}`` records; any other suffix is JSONL of such records. Tags are
    strings, InsTag objects (their ``tag``) or a raw model reply string. Later records win
    for a repeated instruction (the cache is append-only). An instruction with surrounding
    whitespace is also stored stripped (unless that text has tags of its own).
    """
    path = Path(path)
    tags: dict[str, list[str]] = TagTable()
    tags.source = str(path)  # type: ignore[attr-defined]
    if path.suffix == ".json":
        doc = read_json(path)
        if isinstance(doc, list):
            records: Iterable[tuple[int | None, Any]] = ((None, r) for r in doc)
        elif isinstance(doc, dict) and set(doc) >= {"instruction", "tags"} and isinstance(doc["instruction"], str):
            records = [(None, doc)]  # one record
        elif isinstance(doc, dict):
            records = []
            for instruction, value in doc.items():
                tags[instruction] = tag_list(value, path, None, instruction)
        else:
            raise InputError(f"expected a JSON object {{instruction: [tags]}} or a list of records, got "
                             f"{type(doc).__name__}", path=path)
    else:
        records = iter_jsonl(path)
    for index, (lineno, record) in enumerate(records):
        field = "instruction" if lineno is not None else f"[{index}].instruction"
        if not isinstance(record, dict):
            where = "" if lineno is not None else f" (item {index} is a {type(record).__name__})"
            raise InputError('expected a JSON object {instruction: tags} or a list of {"instruction", "tags"} '
                             f"records{where}", path=path, line=lineno)
        instruction = record.get("instruction")
        if not isinstance(instruction, str):
            raise InputError("missing or non-string instruction", path=path, line=lineno, field=field)
        tags[instruction] = tag_list(record.get("tags"), path, lineno, field.replace("instruction", "tags"))
    if not tags:
        raise InputError("no tags in file", path=path)
    # Readers strip instructions (SuperNI definitions end in a space upstream); taggers often
    # store them as given: the stripped text finds the same tags.
    for instruction in list(tags):
        tags.setdefault(instruction.strip(), tags[instruction])
    return tags


def tag_list(value: object, path: str | Path | None, line: int | None, field: str) -> list[str]:
    """The tags of one instruction, in any shape taggers return them (see :func:`load_tags`)."""
    if isinstance(value, str):
        from inscl.taggers.parsing import TagParseError, parse_tags

        try:
            return parse_tags(value)
        except TagParseError:
            raise InputError("a string that holds no JSON tag list (expected a list of strings, InsTag "
                             "objects {\"tag\", \"explanation\"} or a model reply holding one)", path=path,
                             line=line, field=field) from None
    if not isinstance(value, list):
        raise InputError(f"tags must be a list of strings or InsTag objects, got {type(value).__name__}",
                         path=path, line=line, field=field)
    out: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            item = item.get("tag")
            if not isinstance(item, str):
                raise InputError('an InsTag object needs a string "tag"', path=path, line=line,
                                 field=f"{field}[{i}].tag")
        if not isinstance(item, str):
            raise InputError(f"tags must be strings or InsTag objects, got {type(item).__name__}", path=path,
                             line=line, field=f"{field}[{i}]")
        out.append(item)
    return out


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in ("texts", "embeddings"):
                if name not in data.files:
                    raise InputError(f"missing array '{name}' (found {sorted(data.files)})", path=path, field=name)
            texts = data["texts"]
            matrix = data["embeddings"]
    except InputError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        # a truncated or damaged archive, a pickle, a text file named .npz
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InputError(f"cannot read .npz file ({type(exc).__name__}: {reason})", path=path) from None
    if texts.ndim != 1 or texts.dtype.kind not in "US":
        raise InputError("'texts' must be a 1-D array of strings", path=path, field="texts")
    if matrix.ndim != 2 or matrix.shape[0] != texts.shape[0] or matrix.dtype.kind not in "fiu":
        raise InputError(f"'embeddings' must be a numeric ({len(texts)}, d) array, got shape {matrix.shape}",
                         path=path, field="embeddings")
    if not np.all(np.isfinite(matrix)):
        row = int(np.nonzero(~np.all(np.isfinite(matrix), axis=1))[0][0])
        raise InputError(f"non-finite value in row {row}", path=path, field="embeddings")
    vectors: dict[str, np.ndarray] = {}
    for row, (text, vec) in enumerate(zip(texts.tolist(), matrix)):
        _add_vector(vectors, str(text), vec, path, None, f"embeddings[{row}]")
    return vectors


def _read_embeddings_jsonl(path: Path) -> dict[str, np.ndarray]:
    vectors: dict[str, np.ndarray] = {}
    dim: int | None = None
    for lineno, record in iter_jsonl(path):
        text = record.get("text")
        if not isinstance(text, str):
            raise InputError("missing or non-string text", path=path, line=lineno, field="text")
        emb = record.get("embedding")
        if (not isinstance(emb, list) or not emb
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                           for x in emb)):
            raise InputError("embedding must be a non-empty list of finite numbers", path=path, line=lineno,
                             field="embedding")
        if dim is None:
            dim = len(emb)
        elif len(emb) != dim:
            raise InputError(f"embedding has {len(emb)} dimensions, expected {dim} as on earlier lines",
                             path=path, line=lineno, field="embedding")
        _add_vector(vectors, text, np.asarray(emb, dtype=np.float32), path, lineno, "embedding")
    return vectors


def _add_vector(vectors: dict[str, np.ndarray], text: str, vec: np.ndarray, path: Path, line: int | None,
                field: str) -> None:
    vec = np.asarray(vec, dtype=np.float32)
    previous = vectors.get(text)
    # The same text twice with different vectors means two encoders were mixed in one file.
    if previous is not None and not np.allclose(previous, vec, atol=1e-6):
        raise InputError(f"{_short(text)} appears twice with different embeddings", path=path, line=line,
                         field=field)
    vectors[text] = vec


def _digest(table: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for text in sorted(table):
        h.update(text.encode("utf-8"))
        h.update(b"\0")
        h.update(np.ascontiguousarray(table[text], dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
