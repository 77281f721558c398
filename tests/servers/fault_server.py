"""A small, deliberately misbehaving OpenAI-compatible server on loopback, for tests and benchmarks.

It answers ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` and
``POST /v1/embeddings`` (vectors derived from each input's hash, :func:`fake_embedding`). Each
request first takes the next queued fault (if any), so a test can script exactly what the client
meets::

    with FaultServer(delay_s=0.2) as server:
        server.enqueue("429", retry_after=1)   # then "500", "hang", "malformed", "short"
        ...  # point the openai backend at server.base_url

Without a fault it answers after ``delay_s`` with ``responder(prompt, asked)`` (by default a JSON list
of ``asked`` distinct sentences derived from the prompt's hash). Every request is logged in
:attr:`FaultServer.requests` (path, headers, body, arrival time) and the most requests answered at
once in :attr:`FaultServer.max_in_flight`, so tests can assert on them.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import numpy as np

FAULTS = ("429", "500", "hang", "malformed", "short", "not_openai", "empty")

_WORDS = (
    "anxious sudden chest pain night doctor tenant landlord deposit lawyer court loan credit card debt "
    "savings retirement fire smoke alarm neighbour police stranger flood storm rash fever cough tired "
    "alone nobody sleep crying panic job boss contract fine ticket refund scam bank mortgage rent car "
    "crash injury burn poison antidote pills dose therapy friend family brother sister weekend morning"
).split()


@dataclass
class LoggedRequest:
    """One request the server received (header names in lower case)."""

    path: str
    headers: dict
    body: dict | None
    received_at: float


@dataclass
class _Fault:
    kind: str
    retry_after: float | None = None


def default_responder(prompt: str, asked: int) -> str:
    """``asked`` distinct short sentences as a JSON list, the same for the same prompt."""
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    lines = [" ".join(rng.choice(_WORDS, size=7, replace=False)).capitalize() + "?" for _ in range(asked)]
    return json.dumps(lines)


EMBEDDING_DIMENSION = 8


def fake_embedding(text: str) -> list[float]:
    """A deterministic vector for ``text`` (its hash's bytes), the same on every call."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(byte - 127.5) / 127.5 for byte in digest[:EMBEDDING_DIMENSION]]


def asked_count(prompt: str, default: int = 1) -> int:
    """How many variations a rendered prompt asks for (``write 5 ...`` or ``Rewrites (5):``)."""
    match = re.search(r"write (\d+) different|Rewrites \((\d+)\):\s*(?:1\.)?\s*$", prompt, re.IGNORECASE)
    if not match:
        return default
    return int(match.group(1) or match.group(2))


@dataclass
class FaultServer:
    """Threaded loopback server answering like an OpenAI endpoint, with scripted faults.

    Parameters
    ----------
    delay_s : seconds every normal answer waits before it is sent.
    hang_s : how long a ``hang`` fault holds the connection before closing it unanswered.
    bare : answer every request, ``/models`` included, with HTTP 200 and JSON that is not OpenAI-shaped.
    responder : ``(prompt, asked) -> content`` for normal answers.
    model : the model id listed by ``/v1/models`` and echoed in answers.
    """

    delay_s: float = 0.0
    hang_s: float = 5.0
    bare: bool = False
    responder: Callable[[str, int], str] = default_responder
    model: str = "fault-model"
    port: int = 0
    requests: list = field(default_factory=list, init=False)
    max_in_flight: int = field(default=0, init=False)
    _in_flight: int = field(default=0, init=False, repr=False)
    _faults: list = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)

    def enqueue(self, kind: str, retry_after: float | None = None, times: int = 1) -> None:
        """Make the next ``times`` requests meet fault ``kind`` (one of :data:`FAULTS`)."""
        if kind not in FAULTS:
            raise ValueError(f"kind must be one of {', '.join(FAULTS)}, not {kind!r}.")
        with self._lock:
            self._faults.extend(_Fault(kind, retry_after) for _ in range(times))

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("The fault server is not running; use it as a context manager or call start().")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "FaultServer":
        owner = self

        class Handler(_Handler):
            server_owner = owner

        self._server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 resets connections when a client opens many at once


class _Handler(BaseHTTPRequestHandler):
    server_owner: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._log(None)
        if self.server_owner.bare:
            self._send(200, {"ok": True})
        elif self.path.rstrip("/").endswith("/models"):
            owner = self.server_owner
            self._send(200, {"object": "list", "data": [{"id": owner.model, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        self._log(body)
        owner = self.server_owner
        with owner._lock:
            owner._in_flight += 1
            owner.max_in_flight = max(owner.max_in_flight, owner._in_flight)
        try:
            self._answer(body)
        finally:
            with owner._lock:
                owner._in_flight -= 1

    def _answer(self, body: dict | None) -> None:
        owner = self.server_owner
        fault = owner._next_fault()
        if owner.bare:
            fault = _Fault("not_openai")
        if fault is not None and fault.kind not in ("short", "empty"):
            self._fault(fault)
            return
        if owner.delay_s:
            time.sleep(owner.delay_s)
        if self.path.rstrip("/").endswith("/embeddings"):
            self._embeddings(body or {}, fault)
            return
        chat = self.path.rstrip("/").endswith("/chat/completions")
        body = body or {}
        prompt = (body.get("messages") or [{}])[-1].get("content", "") if chat else str(body.get("prompt", ""))
        asked = asked_count(prompt)
        if fault is not None and fault.kind == "short":  # fewer variations than asked
            asked = max(asked - 2, 1)
        content = "" if fault is not None and fault.kind == "empty" else owner.responder(prompt, asked)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(content.split()),
                 "total_tokens": len(prompt.split()) + len(content.split())}
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            kind = "chat.completion"
        else:
            choice = {"index": 0, "text": content, "finish_reason": "stop"}
            kind = "text_completion"
        self._send(200, {"id": "fault-1", "object": kind, "created": int(time.time()),
                         "model": body.get("model", owner.model), "choices": [choice], "usage": usage})

    def _embeddings(self, body: dict, fault: _Fault | None) -> None:
        texts = body.get("input") or []
        texts = [texts] if isinstance(texts, str) else list(texts)
        if fault is not None and fault.kind == "short":  # one vector fewer than texts sent
            texts = texts[:-1]
        data = [] if fault is not None and fault.kind == "empty" else [
            {"object": "embedding", "index": i, "embedding": fake_embedding(str(t))} for i, t in enumerate(texts)]
        tokens = sum(len(str(t).split()) for t in texts)
        self._send(200, {"object": "list", "data": data, "model": body.get("model", self.server_owner.model),
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def _fault(self, fault: _Fault) -> None:
        if fault.kind == "429":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, headers)
        elif fault.kind == "500":
            self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
        elif fault.kind == "hang":
            time.sleep(self.server_owner.hang_s)
            self.close_connection = True
        elif fault.kind == "not_openai":
            self._send(200, {"status": "ok", "result": "not an OpenAI answer"})
        elif fault.kind == "malformed":
            payload = b'{"id": "x", "choices": [{"message": {"content": "unterminated'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def _log(self, body: dict | None) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server_owner.requests.append(LoggedRequest(self.path, headers, body, time.monotonic()))

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    """Run the server in its own process: ``python -m tests.servers.fault_server --delay 0.2``."""
    import argparse

    parser = argparse.ArgumentParser(description="A loopback OpenAI-compatible server answering after a delay.")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one)")
    args = parser.parse_args()
    server = FaultServer(delay_s=args.delay, port=args.port).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
