"""OpenAITagger against a real chat-completions HTTP server on 127.0.0.1 that injects faults.

The server decides its behaviour from the instruction's first word (see ``Behaviour``),
counts the requests it got per instruction and records their arrival times, so the
tests assert retries, back-off, ``Retry-After`` and resume from the server's side.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typing_extensions import Self

from inscl.taggers import make_tagger, read_tags_jsonl
from inscl.taggers.prompt import USER_TEMPLATE

PREFIX = USER_TEMPLATE.format(instruction="\0").split("\0")[0]


class FakeChatServer:
    """A ThreadingHTTPServer speaking ``POST /v1/chat/completions`` with scripted faults.

    Behaviour by the instruction's first word (n = how many requests this instruction
    has had so far, counting the current one):

    * ``ok``: answers at once with a JSON list of tag objects
    * ``fail500``: HTTP 500 for n <= 2, then ok
    * ``ratelimit``: HTTP 429 with ``Retry-After: 1`` for n == 1, then ok
    * ``slow``: sleeps 1.5 s (longer than the client timeout) for n == 1, then ok
    * ``garbled``: HTTP 200 whose body is not JSON for n == 1, then ok
    * ``fenced``: the tag list inside a ```json code fence with chatter around it
    * ``malformed``: always a reply without any JSON
    * ``down``: always HTTP 503
    * ``delay``: answers after ``delay`` seconds (for the resume test)
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.counts: dict[str, int] = defaultdict(int)
        self.times: dict[str, list[float]] = defaultdict(list)
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                assert prompt.startswith(PREFIX)
                instruction = prompt[len(PREFIX):]
                with server.lock:
                    server.counts[instruction] += 1
                    n = server.counts[instruction]
                    server.times[instruction].append(time.monotonic())
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                try:
                    server.respond(self, instruction, n)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: bytes,
              headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(payload)

    def _reply(self, handler: BaseHTTPRequestHandler, content: str) -> None:
        doc = {"id": "x", "object": "chat.completion",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop"}]}
        self._send(handler, 200, json.dumps(doc).encode())

    @staticmethod
    def tags_for(instruction: str) -> list[str]:
        word = instruction.split()[0]
        return [f"{word} intent", f"tag {instruction.split()[-1]}"]

    def respond(self, handler: BaseHTTPRequestHandler, instruction: str, n: int) -> None:
        kind = instruction.split()[0]
        good = json.dumps([{"tag": t, "explanation": "because"} for t in self.tags_for(instruction)])
        if kind == "fail500" and n <= 2:
            return self._send(handler, 500, b'{"error": "boom"}')
        if kind == "ratelimit" and n == 1:
            return self._send(handler, 429, b'{"error": "slow down"}', {"Retry-After": "1"})
        if kind == "slow" and n == 1:
            time.sleep(1.5)
        if kind == "garbled" and n == 1:
            return self._send(handler, 200, b"<html>gateway hiccup</html>")
        if kind == "malformed":
            return self._reply(handler, "I think the tags are intent and more intent.")
        if kind == "down":
            return self._send(handler, 503, b'{"error": "unavailable"}')
        if kind == "delay":
            time.sleep(self.delay)
        if kind == "fenced":
            return self._reply(handler, f"Sure! Here are the tags:\n```json\n{good}\n```\nHope this helps.")
        return self._reply(handler, good)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


FAST = {"timeout": 0.5, "max_retries": 2, "max_parse_retries": 2, "backoff_base": 0.01, "backoff_max": 0.05}


def test_retries_faults_and_cache(tmp_path: Path) -> None:
    instructions = ["ok first one", "fail500 second", "ratelimit third", "slow fourth", "garbled fifth",
                    "fenced sixth", "malformed seventh", "down eighth", "ok ninth"]
    with FakeChatServer() as server:
        tagger = make_tagger("openai:tiny-model", cache_dir=tmp_path, base_url=server.url, api_key="sk-test",
                             concurrency=4, progress=False, **FAST)
        tags = tagger.tag(instructions)

        expected_counts = {"ok first one": 1, "fail500 second": 3, "ratelimit third": 2, "slow fourth": 2,
                           "garbled fifth": 2, "fenced sixth": 1, "malformed seventh": 3, "down eighth": 3,
                           "ok ninth": 1}
        assert dict(server.counts) == expected_counts
        # Retry-After: 1 was honoured although the back-off base is 10 ms
        t = server.times["ratelimit third"]
        assert t[1] - t[0] >= 0.9
        # every request: the model, temperature 0, the InsTag prompt and the key
        assert {b["model"] for b in server.bodies} == {"tiny-model"}
        assert {b["temperature"] for b in server.bodies} == {0}
        assert all(b["messages"][0]["role"] == "system" for b in server.bodies)
        assert all(h.get("Authorization") == "Bearer sk-test" for h in server.headers)

        good = [s for s in instructions if s.split()[0] not in ("malformed", "down")]
        for s in good:
            assert tags[s] == FakeChatServer.tags_for(s)
        assert tags["malformed seventh"] == [] and tags["down eighth"] == []
        assert {f.instruction: f.attempts for f in tagger.last_failures} == {"malformed seventh": 3,
                                                                             "down eighth": 3}

        # the cache holds exactly the successes; failures.jsonl the two failures
        cache_file = tagger.cache.path
        assert read_tags_jsonl(cache_file) == {s: FakeChatServer.tags_for(s) for s in good}
        lines = [json.loads(x) for x in tagger.cache.failures_path.read_text().splitlines()]
        assert {r["instruction"] for r in lines} == {"malformed seventh", "down eighth"}
        assert all(r["attempts"] == 3 and r["error"] for r in lines)
        assert "HTTP 503" in next(r["error"] for r in lines if r["instruction"] == "down eighth")

        # a new tagger on the same cache asks the server only for the failed ones again
        before = dict(server.counts)
        again = make_tagger("openai:tiny-model", cache_dir=tmp_path, base_url=server.url, api_key="sk-test",
                            progress=False, **FAST)
        assert again.tag(instructions) == tags
        asked = {s: server.counts[s] - before.get(s, 0) for s in server.counts
                 if server.counts[s] != before.get(s, 0)}
        assert asked == {"malformed seventh": 3, "down eighth": 3}


def test_fatal_status_stops_with_input_error(tmp_path: Path) -> None:
    from inscl.errors import InputError

    tagger = make_tagger("openai:m", base_url="http://127.0.0.1:9/v1", timeout=0.5, max_retries=1,
                         backoff_base=0.01)
    # nothing listens on port 9: a connection error is transient, retried, then a failure
    result = tagger.tag_one("ok x")
    assert not result.ok and result.attempts == 2 and "connection" in (result.error or "")

    class Unauthorised(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(401)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Unauthorised)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        tagger = make_tagger("openai:m", cache_dir=tmp_path, base_url=f"http://127.0.0.1:{httpd.server_address[1]}",
                             **FAST)
        with pytest.raises(InputError, match="401"):
            tagger.tag(["ok a", "ok b"])
    finally:
        httpd.shutdown()
        httpd.server_close()


def _cache_lines(cache_dir: Path) -> int:
    files = list(cache_dir.glob("*/tags.jsonl"))
    return sum(1 for f in files for line in f.read_text().splitlines() if line.strip()) if files else 0


def test_resume_after_sigkill(tmp_path: Path) -> None:
    n = 12
    tasks = tmp_path / "stream.jsonl"
    tasks.write_text("".join(json.dumps({"instruction": f"delay instruction number {i}", "input": "",
                                         "output": "o"}) + "\n" for i in range(n)))
    cache = tmp_path / "cache"
    out = tmp_path / "tags.jsonl"
    env = dict(os.environ, OPENAI_API_KEY="sk-test", INSCL_OPENAI_BASE_URL="http://127.0.0.1:9/unused")

    with FakeChatServer(delay=0.25) as server:
        cmd = [sys.executable, "-m", "inscl", "--quiet", "tag", "--tasks", str(tasks), "--tagger", "openai:m",
               "--base-url", server.url, "--cache-dir", str(cache), "--concurrency", "1", "--timeout", "5",
               "--out", str(out)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _cache_lines(cache) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the tagger never wrote 3 results"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not out.exists()  # killed before the end: no --out
        cached = read_tags_jsonl(next(cache.glob("*/tags.jsonl")))
        assert 3 <= len(cached) < n
        first_run = dict(server.counts)
        assert all(first_run[s] == 1 for s in cached)

        done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        second_run = {s: c - first_run.get(s, 0) for s, c in server.counts.items() if c - first_run.get(s, 0)}
        # the rerun asked the server exactly for the instructions missing from the cache
        expected = {f"delay instruction number {i}" for i in range(n)} - set(cached)
        assert set(second_run) == expected and set(second_run.values()) == {1}

    final = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["instruction"] for r in final] == [f"delay instruction number {i}" for i in range(n)]
    assert all(r["tags"] == FakeChatServer.tags_for(r["instruction"]) for r in final)
    lines = next(cache.glob("*/tags.jsonl")).read_text().splitlines()
    assert len(lines) == n and all(json.loads(x)["tagger"] == final[0]["tagger"] for x in lines)


def test_ctrl_c_stops_promptly_and_keeps_results(tmp_path: Path) -> None:
    n = 8
    tasks = tmp_path / "stream.jsonl"
    tasks.write_text("".join(json.dumps({"instruction": f"delay item {i}", "input": "", "output": "o"}) + "\n"
                             for i in range(n)))
    cache, out = tmp_path / "cache", tmp_path / "tags.jsonl"
    with FakeChatServer(delay=0.25) as server:
        cmd = [sys.executable, "-m", "inscl", "--quiet", "tag", "--tasks", str(tasks), "--tagger", "openai:m",
               "--base-url", server.url, "--cache-dir", str(cache), "--concurrency", "2", "--out", str(out)]
        # A shell that starts a job in the background (CI runners, `cmd &`) makes it ignore SIGINT,
        # and the child would inherit that. A handled (not ignored) SIGINT in this process is
        # reset to the default in the child at exec, as an interactive Ctrl-C finds it.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        finally:
            signal.signal(signal.SIGINT, previous)
        deadline = time.monotonic() + 60
        while _cache_lines(cache) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the tagger never wrote 2 results"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)  # in-flight requests end within the server delay
    assert proc.returncode == 130 and "interrupted" in err
    assert not out.exists()
    cached = read_tags_jsonl(next(cache.glob("*/tags.jsonl")))  # strict: every line is complete
    assert 2 <= len(cached) < n
    assert all(server.counts[s] == 1 and tags == FakeChatServer.tags_for(s) for s, tags in cached.items())
