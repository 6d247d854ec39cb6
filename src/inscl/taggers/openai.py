"""Intention tags from any OpenAI-compatible ``/chat/completions`` endpoint.

Standard library only (urllib + a thread pool). Each instruction is one request at
temperature 0 with the InsTag prompt. Transient failures (HTTP 429 and 5xx, timeouts,
connection errors) are retried with exponential back-off and jitter, honouring
``Retry-After``; a reply without a parsable tag list is retried a few times and then
reported as a failure. Authentication / not-found errors stop the run at once.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from inscl.errors import ConfigError, InputError
from inscl.taggers.parsing import TagParseError, parse_tags
from inscl.taggers.prompt import build_messages
from inscl.taggers.result import TagResult

_FATAL_STATUS = {400: "bad request", 401: "unauthorised (check OPENAI_API_KEY)",
                 403: "forbidden (check OPENAI_API_KEY)", 404: "not found (check the base URL and model)"}


@dataclass(frozen=True)
class OpenAITaggerConfig:
    """Validated settings of :class:`OpenAITagger` (times in seconds)."""

    model: str
    base_url: str
    concurrency: int = 4
    timeout: float = 60.0
    max_retries: int = 5          # extra attempts after the first, for transient errors
    max_parse_retries: int = 2    # extra attempts when the reply has no tag list
    backoff_base: float = 1.0     # first delay; doubles each retry
    backoff_max: float = 60.0
    max_retry_after: float = 300.0
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if not self.model:
            raise ConfigError("model name is empty (use openai:MODEL)", field="tagger")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base URL must start with http:// or https://, got {self.base_url!r}",
                              field="base_url")
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be >= 1, got {self.concurrency}", field="concurrency")
        for name in ("timeout", "backoff_max", "max_retry_after"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}", field=name)
        for name in ("max_retries", "max_parse_retries", "backoff_base"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}", field=name)


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAITagger:
    """Tags instructions through ``POST {base_url}/chat/completions``.

    ``tag_iter`` yields a :class:`TagResult` for each instruction as soon as it is
    done, at most ``concurrency`` requests in flight; wrap in
    :class:`~inscl.taggers.cache.CachedTagger` to persist them.
    """

    def __init__(self, model: str, base_url: str, api_key: str | None = None, concurrency: int = 4,
                 timeout: float = 60.0, max_retries: int = 5, max_parse_retries: int = 2,
                 backoff_base: float = 1.0, backoff_max: float = 60.0, max_retry_after: float = 300.0,
                 max_tokens: int = 512, seed: int | None = None) -> None:
        self.config = OpenAITaggerConfig(model, base_url.rstrip("/"), concurrency, timeout, max_retries,
                                         max_parse_retries, backoff_base, backoff_max, max_retry_after,
                                         max_tokens)
        self.api_key = api_key
        self.id = f"openai:{model}@{self.config.base_url}"
        self._rng = random.Random(seed)

    # -- one request -------------------------------------------------------------------------
    def _request(self, instruction: str) -> str:
        c = self.config
        body = json.dumps({"model": c.model, "messages": build_messages(instruction), "temperature": 0,
                           "max_tokens": c.max_tokens}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(f"{c.base_url}/chat/completions", data=body, headers=headers,
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=c.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode("utf-8", "replace")
            if exc.code == 429 or exc.code >= 500:
                raise _Transient(f"HTTP {exc.code}: {detail}",
                                 parse_retry_after(exc.headers.get("Retry-After")))
            if exc.code in _FATAL_STATUS:
                raise InputError(f"{c.base_url}/chat/completions answered HTTP {exc.code} "
                                 f"{_FATAL_STATUS[exc.code]}: {detail}", field="tagger") from None
            raise TagParseError(f"HTTP {exc.code}: {detail}") from None
        except TimeoutError as exc:
            raise _Transient(f"timeout after {c.timeout:g}s ({exc})") from None
        except urllib.error.URLError as exc:
            raise _Transient(f"connection error: {exc.reason}") from None
        except (ConnectionError, OSError) as exc:  # reset / refused while reading
            raise _Transient(f"connection error: {exc}") from None
        try:
            return json.loads(raw)["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise TagParseError(f"malformed chat-completions response ({type(exc).__name__}): "
                                f"{raw[:120]!r}") from None

    def _delay(self, retry: int, retry_after: float | None) -> float:
        c = self.config
        if retry_after is not None:
            return min(retry_after, c.max_retry_after)
        base = min(c.backoff_max, c.backoff_base * 2 ** retry)
        return base + self._rng.uniform(0, c.backoff_base)  # jitter spreads synchronised retries

    def tag_one(self, instruction: str, stop: threading.Event | None = None) -> TagResult:
        """Tags one instruction with retries; never raises except for fatal HTTP errors.

        Once ``stop`` is set no new attempt starts and back-off sleeps end at once.
        """
        c = self.config
        stop = stop or threading.Event()
        attempts = transient = malformed = 0
        while True:
            if stop.is_set():
                return TagResult(instruction, None, "cancelled", attempts)
            attempts += 1
            try:
                return TagResult(instruction, parse_tags(self._request(instruction)), attempts=attempts)
            except _Transient as exc:
                if transient >= c.max_retries:
                    return TagResult(instruction, None, f"gave up after {attempts} attempts: {exc}", attempts)
                stop.wait(self._delay(transient, exc.retry_after))
                transient += 1
            except TagParseError as exc:
                if malformed >= c.max_parse_retries:
                    return TagResult(instruction, None, f"unparsable reply after {attempts} attempts: {exc}",
                                     attempts)
                malformed += 1

    # -- many requests ---------------------------------------------------------------------------
    def tag_iter(self, instructions: Sequence[str]) -> Iterator[TagResult]:
        pending = list(dict.fromkeys(instructions))
        stop = threading.Event()  # set when this iteration ends, e.g. abandoned on Ctrl-C
        pool = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="inscl-tag")
        running: set[Future[TagResult]] = set()
        try:
            while pending or running:
                # submit lazily so that an interruption leaves nothing queued behind it
                while pending and len(running) < self.config.concurrency:
                    running.add(pool.submit(self.tag_one, pending.pop(0), stop))
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            stop.set()  # in-flight requests finish, but no retry starts after an interruption
            for fut in running:
                fut.cancel()
            pool.shutdown(wait=False, cancel_futures=True)

    def tag(self, instructions: Sequence[str]) -> dict[str, list[str]]:
        return {r.instruction: r.tags or [] for r in self.tag_iter(instructions)}
