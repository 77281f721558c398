"""LLM generation of label-keeping variations: templates, backends, cache, filters, and the generator.

>>> from alsafe.generate import Generator, OpenAIBackend, Template, SameLabel
>>> generator = Generator(OpenAIBackend("gpt-3.5-turbo"), Template(SameLabel()), n_variations=5)
>>> generator.generate(store, seeds, round=1, learner=learner)  # doctest: +SKIP
"""

from alsafe.generate.backends.base import Backend, Completion, Prompt, Request, cache_key, run_sync
from alsafe.exceptions import BackendUnavailable, GenerationError
from alsafe.generate.backends.local import LocalBackend
from alsafe.generate.backends.openai import DEFAULT_PRICES, OpenAIBackend
from alsafe.generate.factory import make_backend, make_generator, seed_store
from alsafe.names import BACKENDS
from alsafe.generate.filters import (Candidate, ContentFilter, DuplicateFilter, FilterContext, LabelGate,
                                     QualityFilter, RefusalFilter, default_filters)
from alsafe.generate.generator import Generator
from alsafe.generate.judge import LLMJudge
from alsafe.generate.templates import Contrast, Parsed, SameLabel, Template, parse_variations
from alsafe.generate.views import ledger, preview, verdicts

__all__ = [
    "BACKENDS", "Backend", "BackendUnavailable", "Candidate", "Completion", "ContentFilter", "Contrast", "DEFAULT_PRICES",
    "DuplicateFilter", "FilterContext", "GenerationError", "Generator", "LLMJudge", "LabelGate", "LocalBackend",
    "OpenAIBackend", "Parsed", "Prompt", "QualityFilter", "RefusalFilter", "Request", "SameLabel", "Template",
    "cache_key", "default_filters", "ledger", "make_backend", "make_generator", "parse_variations", "preview",
    "run_sync", "seed_store", "verdicts",
]
