"""Every error a user can cause, in one family: catch :class:`AlsafeError` to catch them all.

Each class also derives from the built-in type it was raised as before (``ValueError``,
``RuntimeError``, ``LookupError``), so code that catches those keeps working. Messages are one
sentence naming the file, row, column or parameter and what to do.
"""

from __future__ import annotations


class AlsafeError(Exception):
    """Base of every alsafe error; the CLI prints its message and exits non-zero, never a traceback."""


class StoreError(AlsafeError, ValueError):
    """A request the run store refuses, or a run store that is damaged; the message names the file, item or round."""


class PoolError(AlsafeError, ValueError):
    """Bad input in a user's file; the message names file, row and column."""


class TaxonomyError(AlsafeError, ValueError):
    """A taxonomy file or mapping that cannot be used; the message names the file and the label."""


class LearnerError(AlsafeError, ValueError):
    """Training data or parameters a learner cannot use; the message names the parameter."""


class ModelUnavailable(AlsafeError, RuntimeError):
    """An offline model's package is missing or its files fail verification."""


class ModelLoadError(AlsafeError, ValueError):
    """A model name that is neither an offline model, a local transformers folder nor a reachable hub name."""


class GenerationError(AlsafeError, RuntimeError):
    """A backend could not produce an answer (after its retries); the message never holds a secret."""


class BackendUnavailable(GenerationError):
    """A backend's endpoint or model cannot be reached or loaded."""


class EmbeddingEndpointError(AlsafeError, RuntimeError):
    """A served embeddings endpoint gave no usable vectors (after its retries); the message never holds a secret."""


class CollectError(AlsafeError, ValueError):
    """A problem with the caller's files, arguments or credentials; the message says which and what to do."""


class PipelineError(AlsafeError, RuntimeError):
    """A params file or notebook run failed; the message names the file, notebook, parameter or cell."""


class DataError(AlsafeError, ValueError):
    """The paper's dataset is missing, altered or malformed; the message names the file and what to do."""


class ReplayMissing(AlsafeError, LookupError):
    """The paper's released split has no variations for a seed."""
