"""The local backend: SmolLM2 in-process through llama.cpp, any HF causal model through transformers."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest

from alsafe.generate import BackendUnavailable, Generator, LocalBackend, QualityFilter, ledger
from alsafe.generate.backends.local import converted_folder
from alsafe.models import minilm_path, smollm2_gguf_path
from alsafe.store import RunStore
from alsafe.paper.reference import PAPER_TAXONOMY

SEED = pd.DataFrame({"id": ["s1"], "text": ["What is this rash?"], "label": ["medical-advice"]})
needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                 reason="llama-cpp-python is not installed (make setup builds it)")


def _store(path):
    store = RunStore.create(path, PAPER_TAXONOMY)
    store.add_items(SEED, role="labeled")
    return store


@needs_llama
def test_smollm2_in_process_writes_variations_deterministically(tmp_path):
    backend = LocalBackend(random_state=3)
    assert backend.resolved_engine() == "llama_cpp" and backend.variations_per_call == 1
    generator = Generator(backend, filters=[QualityFilter()], n_variations=2, max_tokens_per_variation=24)
    with _store(tmp_path / "a.sqlite") as first, _store(tmp_path / "b.sqlite") as second:
        rows = generator.generate(first, SEED, round=1)
        again = generator.generate(second, SEED, round=1)  # a new store: no cache, the seeds decide
        calls = first.llm_calls()
        table = ledger(first)
    assert rows["text"].tolist() == again["text"].tolist()
    assert len(rows) == 2 and rows["text"].str.len().min() > 0
    assert (rows["backend"] == "local").all() and (rows["model"] == "SmolLM2-135M-Instruct").all()
    assert len(calls) == 2 and (calls["completion_tokens"] > 0).all()
    assert table["cost_usd"].iloc[0] == 0.0
    report = generator.report_.iloc[0]
    assert (report["calls"], report["asked"]) == (2, 2)


def _tiny_causal_model(folder):
    """A randomly initialised two-layer Llama with MiniLM's tokenizer: a stand-in HF causal model."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
                         eos_token_id=tokenizer.sep_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_any_hf_causal_model_through_transformers_leaves_global_rng_alone(tmp_path):
    import torch

    folder = _tiny_causal_model(tmp_path / "tiny")
    backend = LocalBackend(model=str(folder), random_state=5, temperature=1.0)
    assert backend.resolved_engine() == "transformers" and backend.gguf_file() is None
    generator = Generator(backend, filters=[], n_variations=2, max_tokens_per_variation=4)
    state = torch.random.get_rng_state()
    first = generator.preview(SEED, taxonomy=PAPER_TAXONOMY)
    second = generator.preview(SEED, taxonomy=PAPER_TAXONOMY)
    assert torch.equal(state, torch.random.get_rng_state())
    assert first["raw_output"].tolist() == second["raw_output"].tolist()
    assert first["raw_output"].iloc[0] != first["raw_output"].iloc[1]  # call i samples with seed 5 + i
    assert generator.report_["calls"].tolist() == [2]


def test_local_backend_errors_name_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="engine must be one of auto, llama_cpp, transformers, not 'vllm'"):
        LocalBackend(engine="vllm")
    with pytest.raises(ValueError, match=r"engine='llama_cpp' needs a \.gguf model"):
        LocalBackend(model=str(tmp_path), engine="llama_cpp").resolved_engine()
    missing = LocalBackend(model=str(tmp_path / "absent.gguf"))
    with pytest.raises(BackendUnavailable, match=r"absent\.gguf does not exist; pass an existing \.gguf path as model"):
        Generator(missing, filters=[]).preview(SEED, taxonomy=PAPER_TAXONOMY)


@pytest.mark.slow
def test_gguf_converts_once_for_transformers_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSAFE_CACHE_DIR", str(tmp_path / "cache"))
    backend = LocalBackend(engine="transformers")
    backend.check()
    folder = converted_folder(smollm2_gguf_path())
    assert folder == tmp_path / "cache" / "models" / "SmolLM2-135M-Instruct.Q4_1-transformers"
    stamp = (folder / "config.json").stat().st_mtime_ns
    LocalBackend(engine="transformers").check()
    assert (folder / "config.json").stat().st_mtime_ns == stamp  # loaded from the cache, not converted again
