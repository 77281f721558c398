"""Sentence embeddings (values, the on-disk cache, its survival of kill -9) and TF-IDF vectors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from alsafe.learn.sentence_embedder import SentenceEmbedder, model_key
from alsafe.learn.tfidf import TfidfTextVectorizer
from alsafe.learn.vector_cache import VectorCache, text_hash
from alsafe.learn.vectorize import make_vectorizer

TITLES = ["My landlord will not return my security deposit",
          "Landlord is keeping my deposit after I moved out",
          "Best pizza toppings for a family dinner",
          "My landlord will not return my security deposit"]  # a duplicate, embedded once


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    cache = tmp_path_factory.mktemp("embeddings")
    embedder = SentenceEmbedder("minilm", cache=cache)
    return embedder, embedder.transform(TITLES), cache


def test_embeddings_are_unit_float32_rows_and_similar_titles_are_closer(embedded):
    embedder, vectors, _ = embedded
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.5 > similarity[0, 2] + 0.3
    assert similarity[0, 3] == pytest.approx(1.0, abs=1e-6)
    assert embedder.dimension_ == 384


def test_cache_embeds_each_text_once_and_survives_a_new_instance(embedded):
    embedder, vectors, cache = embedded
    assert embedder.n_embedded_ == 3  # the duplicate title is embedded once
    again = embedder.transform(TITLES[:2] + ["A new title about unpaid wages"])
    assert embedder.n_embedded_ == 4
    np.testing.assert_array_equal(again[:2], vectors[:2])
    fresh = SentenceEmbedder("all-MiniLM-L6-v2", cache=cache)  # an alias of the same model shares the cache
    np.testing.assert_array_equal(fresh.transform(TITLES), vectors)
    assert fresh.n_embedded_ == 0
    assert fresh.n_from_cache_ == 3
    assert getattr(fresh, "model_", None) is None  # all cached: the model was never loaded


def test_cache_key_separates_models_and_lengths(tmp_path):
    assert model_key("minilm", 128) == model_key("all-MiniLM-L6-v2", 128) == "all-MiniLM-L6-v2-mean-len128"
    assert model_key("minilm", 64) != model_key("minilm", 128)
    assert model_key("org/some-model", 128) == "org--some-model-mean-len128"
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert model_key(folder, 128).startswith("my-model-")


def test_without_cache_nothing_is_written_and_empty_input_keeps_the_dimension(tmp_path, monkeypatch):
    monkeypatch.setenv("ALSAFE_CACHE_DIR", str(tmp_path))
    embedder = SentenceEmbedder("minilm", cache=False)
    assert embedder.transform([]).shape == (0, 384)
    assert embedder.transform(TITLES[:1]).shape == (1, 384)
    assert not (tmp_path / "embeddings").exists()


def test_vector_cache_keeps_what_was_stored_before_kill_9(tmp_path):
    path = tmp_path / "vectors.sqlite"
    script = ("import os, signal, numpy as np\n"
              "from alsafe.learn.vector_cache import VectorCache\n"
              f"cache = VectorCache({str(path)!r})\n"
              "cache.put(['a', 'b'], np.ones((2, 3), dtype=np.float32))\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert result.returncode == -signal.SIGKILL
    stored = VectorCache(path).get(["a", "b", "c"])
    assert sorted(stored) == ["a", "b"]
    np.testing.assert_array_equal(stored["a"], np.ones(3, dtype=np.float32))
    assert text_hash("a") != text_hash("b")


def test_embedder_refuses_bad_input_and_parameters():
    with pytest.raises(TypeError, match="texts must be a list of strings, not a single string"):
        SentenceEmbedder(cache=False).transform("one title")
    with pytest.raises(TypeError, match=r"texts\[1\] is None"):
        SentenceEmbedder(cache=False).transform(["a title", None])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        SentenceEmbedder(batch_size=0, cache=False).transform(["a title"])


def test_tfidf_vectors_sparse_and_dense():
    texts = ["landlord deposit", "deposit returned late", "chest pain emergency"]
    sparse = TfidfTextVectorizer().fit_transform(texts)
    assert sp.issparse(sparse) and sparse.shape[0] == 3 and sparse.dtype == np.float32
    vectorizer = TfidfTextVectorizer(dense=True, ngram_range=(1, 1)).fit(texts)
    dense = vectorizer.transform(texts + ["unseen words only"])
    assert isinstance(dense, np.ndarray) and dense.shape == (4, vectorizer.dimension_) == (4, 7)
    np.testing.assert_allclose(np.linalg.norm(dense[:3], axis=1), 1.0, rtol=1e-6)
    assert not dense[3].any()
    with pytest.raises(NotFittedError, match="call fit"):
        TfidfTextVectorizer().transform(texts)


def test_make_vectorizer():
    tfidf = make_vectorizer("tfidf")
    assert isinstance(tfidf, TfidfTextVectorizer) and tfidf.dense and tfidf.needs_fit  # what the loop expects
    assert not make_vectorizer("tfidf", dense=False).dense
    embedder = make_vectorizer("mpnet", batch_size=8)
    assert isinstance(embedder, SentenceEmbedder) and embedder.model == "all-mpnet-base-v2" and embedder.batch_size == 8
    assert not embedder.needs_fit
