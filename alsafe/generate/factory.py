"""One call from notebook parameters to a ready generator, with the endpoint checked before any round."""

from __future__ import annotations

from alsafe.generate.backends.base import Backend
from alsafe.generate.backends.local import LocalBackend
from alsafe.generate.backends.openai import OpenAIBackend
from alsafe.generate.generator import Generator
from alsafe.generate.templates import Contrast, SameLabel, Template
from alsafe.names import parse_backend


def make_backend(backend: str | Backend = "local", model: str = "", base_url: str = "",
                 api_key_env: str = "OPENAI_API_KEY", random_state: int = 0,
                 max_concurrency: int | None = None) -> Backend:
    """``local`` (offline SmolLM2 unless ``model`` names another) or ``openai`` (any OpenAI-compatible
    ``base_url``; ``model`` required); a :class:`Backend` object is returned as it is.

    ``max_concurrency``: calls in flight for ``openai``; None means 1 for a loopback server (llama.cpp
    answers two requests ~10x slower than one on a small machine) and 8 otherwise."""
    if isinstance(backend, Backend):
        return backend
    backend = parse_backend(backend)
    if backend == "local":
        return LocalBackend(model or "SmolLM2-135M-Instruct", random_state=random_state)
    if backend == "openai":
        if not model:
            raise ValueError("backend='openai' needs a model name (e.g. gpt-4o-mini, or the model your server serves).")
        if max_concurrency is None:
            max_concurrency = 1 if base_url and ("127.0.0.1" in base_url or "localhost" in base_url) else 8
        return OpenAIBackend(model, base_url=base_url or None, api_key_env=api_key_env, random_state=random_state,
                             max_concurrency=max_concurrency)


def make_generator(backend: str | Backend = "local", n_variations: int = 5, relation: str = "same_label",
                   contrast_label: str = "", check: bool = True, **backend_params) -> Generator:
    """A :class:`Generator` for ``backend`` (see :func:`make_backend`); ``check`` makes one cheap call first
    so an endpoint that does not answer fails before a round starts.

    ``relation`` is ``same_label`` (the paper's) or ``contrast`` (variations that flip to ``contrast_label``).
    """
    if relation == "same_label":
        template = Template(SameLabel())
    elif relation == "contrast":
        if not contrast_label:
            raise ValueError("relation='contrast' needs contrast_label, the label the variations should flip to.")
        template = Template(Contrast(target=contrast_label))
    else:
        raise ValueError(f"relation must be 'same_label' or 'contrast', not {relation!r}.")
    generator = Generator(make_backend(backend, **backend_params), template, n_variations=n_variations,
                          filters=None if isinstance(backend, str) else backend.default_filters)
    if check:
        generator.backend.check()
    return generator


def seed_store(path, seeds, taxonomy, params: dict | None = None):
    """Open (or create) a run store holding ``seeds`` (``id, text, label``) as labeled items, for generating
    their variations outside a loop; seeds already there are kept, new ones added.

    Such a store is a cache of calls, nobody's work: one made with other ``params`` (another commit of the
    code, say) is rebuilt, so its ledger counts only the calls of the current prompts.
    """
    from alsafe.store import RunStore

    store = RunStore.open_or_create(path, taxonomy, params={"purpose": "seed variations", **(params or {})},
                                    rebuild=True)
    new = seeds[~seeds["id"].isin(set(store.items()["id"]))]
    if len(new):
        store.add_items(new[["id", "text", "label"]], role="labeled", source="seeds", annotator="seed")
    return store
