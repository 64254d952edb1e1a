"""A deterministic OpenAI-compatible chat server for the synth tests (and the synth bench).

It answers the packaged prompts: step 1 (persona selection) and step 2 (one form per task),
with text derived from the passage, so cosine filtering means something. Markers in a
passage inject failures, counted per (passage, step) so concurrency does not change them:

    @500xK      first K requests answer HTTP 500
    @429xK      first K requests answer HTTP 429 (Retry-After: 0)
    @badjsonxK  first K answers are not JSON
    @schemaxK   first K answers are JSON with a wrong field
    @dupe       step 2 writes the same fixed query for every such passage
    @always500  every request answers HTTP 500
    @401        every request answers HTTP 401 (a refusal that retrying cannot fix)

Every request body is kept in ``server.requests`` for exact-prompt tests.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER = re.compile(r"@(500|429|badjson|schema)x(\d+)")


class FakeLLM:
    def __init__(self, model: str = "fake-qwen3-32b", delay: float = 0.0, serve_models: bool = True):
        self.model = model
        self.delay = delay
        self.serve_models = serve_models
        self.requests: list[dict] = []
        self._seen: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "FakeLLM":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- answering -----------------------------------------------------------------------

    def answer(self, body: dict) -> tuple[int, dict, dict]:
        """(status, headers, json) for one chat request."""
        with self._lock:
            self.requests.append(body)
        if body.get("model") != self.model:
            return 404, {}, {"error": {"message": f"The model `{body.get('model')}` does not exist."}}
        prompt = body["messages"][-1]["content"]
        passage = _between(prompt, '"""\n', '\n"""') or prompt
        step = "select" if "Candidate personas:" in prompt else "write"
        with self._lock:
            self._seen[(passage, step)] += 1
            nth = self._seen[(passage, step)]
        if "@always500" in passage:
            return 500, {}, {"error": {"message": "internal error"}}
        if "@401" in passage:
            return 401, {}, {"error": {"message": "invalid api key"}}
        for kind, k in MARKER.findall(passage):
            if nth <= int(k):
                if kind == "500":
                    return 500, {}, {"error": {"message": "internal error"}}
                if kind == "429":
                    return 429, {"Retry-After": "0"}, {"error": {"message": "rate limited"}}
                if kind == "badjson":
                    return 200, {}, _completion(self.model, "Sure! Here is the query: what is it")
                if kind == "schema":
                    return 200, {}, _completion(self.model, json.dumps({"unexpected": "field"}))
        content = _select(prompt, passage) if step == "select" else _write(prompt, passage)
        return 200, {}, _completion(self.model, json.dumps(content))


def _between(text: str, start: str, end: str) -> str | None:
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    return text[i + len(start): j] if i >= 0 and j >= 0 else None


def _line_value(prompt: str, label: str) -> str:
    m = re.search(rf"^-?\s*{re.escape(label)}:? (.+)$", prompt, re.MULTILINE)
    return m.group(1).strip() if m else ""


def _select(prompt: str, passage: str) -> dict:
    n = len(re.findall(r"^\d+\. ", prompt, re.MULTILINE))
    qtypes = [q.strip() for q in _line_value(prompt, "Query types").split(",")]
    levels = [d.strip() for d in _line_value(prompt, "Difficulty levels").split(",")]
    h = sum(map(ord, passage))
    return {"persona": h % n + 1, "query_type": qtypes[h % len(qtypes)], "difficulty": levels[h % len(levels)]}


def _first_sentence(passage: str) -> str:
    return re.split(r"(?<=[.!?])\s", passage.strip(), maxsplit=1)[0]


def _write(prompt: str, passage: str) -> dict:
    answer = _write_answer(prompt, passage)
    if "@dupe" in passage:  # the field that becomes the training query
        for field in ("query", "translation", "paraphrase", "text"):
            if field in answer:
                answer[field] = "the very same query"
                break
    return answer


def _write_answer(prompt: str, passage: str) -> dict:
    words = re.sub(r"@\w+", "", passage).split()
    if '{"query"' in prompt:
        return {"query": "what about " + " ".join(words[:8]).lower()}
    if '{"source"' in prompt:
        s = _first_sentence(passage)
        lang = re.search(r"translate it into (\w+)", prompt)
        return {"source": s, "translation": f"[{lang.group(1) if lang else '?'}] {s}"}
    if '{"sentence"' in prompt:
        s = _first_sentence(passage)
        return {"sentence": s, "paraphrase": "in other words, " + s.lower()}
    if '{"text"' in prompt:
        return {"text": "another note on " + " ".join(words[2:9]).lower(), "label": "topic " + words[0].lower(),
                "other_labels": ["cooking", "sports"]}
    return {"answer": "unknown form"}


def _completion(model: str, content: str) -> dict:
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a killed client resets its connection: expected
        pass


def _handler(llm: FakeLLM):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall

        def log_message(self, *args):  # keep test output quiet
            pass

        def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models" and llm.serve_models:
                self._send(200, {"object": "list", "data": [{"id": llm.model, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found"}})
                return
            if llm.delay:
                time.sleep(llm.delay)
            status, headers, payload = llm.answer(body)
            self._send(status, payload, headers)

    return Handler


if __name__ == "__main__":  # a standalone fake endpoint: python tests/synth/fake_llm.py [delay]
    import sys

    with FakeLLM(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0) as srv:
        print(srv.url, srv.model, flush=True)
        threading.Event().wait()
