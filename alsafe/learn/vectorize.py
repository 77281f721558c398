"""The vectorizer factory: text vectors for the query strategies, from a name :mod:`alsafe.names` parses.

Every vectorizer shares one interface: ``fit(texts)`` (a no-op for embeddings), ``transform(texts)``
and ``fit_transform(texts)``, with rows L2-normalised so that dot products are cosine similarities.
"""

from __future__ import annotations

from alsafe.learn.endpoint_embedder import EndpointEmbedder
from alsafe.learn.sentence_embedder import SentenceEmbedder
from alsafe.learn.tfidf import TfidfTextVectorizer
from alsafe.names import VectorizerSpec, parse_vectorizer


def make_vectorizer(name: str | VectorizerSpec, **params):
    """A vectorizer by name: ``"tfidf"``, ``"<model>@<base_url>"`` (a served model behind an OpenAI-compatible
    ``/embeddings`` endpoint, :class:`~alsafe.learn.endpoint_embedder.EndpointEmbedder`), or a model
    :class:`~alsafe.learn.sentence_embedder.SentenceEmbedder` runs (``"minilm"``, ``"mpnet"``, ...).

    ``params`` go to the vectorizer's constructor. ``"tfidf"`` returns dense arrays unless ``dense=False`` is
    given, since the query strategies take numpy arrays (a dense pool costs ``4 * n_texts * max_features`` bytes).
    """
    spec = name if isinstance(name, VectorizerSpec) else parse_vectorizer(name)
    if spec.kind == "tfidf":
        return TfidfTextVectorizer(**{"dense": True, **params})
    if spec.kind == "served":
        return EndpointEmbedder(model=spec.model.name, base_url=spec.model.base_url, **params)
    return SentenceEmbedder(model=spec.model.name, **params)
