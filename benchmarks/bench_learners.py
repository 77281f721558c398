"""Learner speed, and learner quality on the paper's data. Prints markdown tables; never asserts.

Throughput (default): for each model, training and inference examples/s through ``TransformerClassifier``
against a bare PyTorch loop over the same model and the same pre-tokenized data, in the same process
(target: the wrapper within 10% of the bare loop)::

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/bench_learners.py [--models minilm-l2 all-MiniLM-L6-v2 mpnet smollm2]

Quality (``--paper``, needs ALSAFE_DATA_DIR): fine-tune on bootstrap + cluster (750 titles), macro-F1 on the
2,700 test titles, with TF-IDF + LR beside::

    PYTHONPATH=. HF_HUB_OFFLINE=1 python benchmarks/bench_learners.py --paper --models all-MiniLM-L6-v2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, f1_score
from torch.nn import functional

from alsafe import models
from alsafe.learn import finetune
from alsafe.learn.tfidf import TfidfLogisticRegression
from alsafe.learn.transformer import TransformerClassifier

WORDS = ("landlord deposit lease rent eviction boss overtime wages paycheck fired doctor pain fever prescription "
         "insurance debt loan credit card taxes bank savings help urgent need advice my friend is not breathing "
         "what should I do about the court notice and unpaid bills after moving out").split()


def markdown(table: pd.DataFrame, digits: int) -> str:
    """A markdown table (pandas' ``to_markdown`` needs tabulate, which is not a dependency)."""
    cells = [[f"{value:.{digits}f}" if isinstance(value, float) else str(value) for value in row]
             for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def benchmark_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` title-like texts (6-20 words) with three labels."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(6, 21))) for _ in range(n)]
    return texts, [("a", "b", "c")[i % 3] for i in range(n)]


def bare_training_seconds(model_name: str, tokens, targets: torch.Tensor, pad_token_id: int, epochs: int,
                          batch_size: int, learning_rate: float, device: torch.device, seed: int) -> float:
    """Seconds of a bare loop: shuffle, forward, cross-entropy, backward, AdamW step (the same optimizer kind)."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    model = models.load_pretrained(AutoModelForSequenceClassification, model_name, new_head=True,
                                   num_labels=int(targets.max()) + 1, pad_token_id=pad_token_id).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, fused=device.type in ("cpu", "cuda") or None)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(tokens), generator=generator)
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            loss = functional.cross_entropy(model(**tokens.batch(indices, device)).logits, targets[indices].to(device))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def bare_inference_seconds(model, tokens, batch_size: int, device: torch.device) -> float:
    """Seconds of forward passes in input order under ``inference_mode``."""
    model.eval()
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(tokens), batch_size):
            model(**tokens.batch(torch.arange(start, min(start + batch_size, len(tokens))), device)).logits.cpu()
    return time.perf_counter() - started


def throughput(model_name: str, n: int, epochs: int, batch_size: int, repeats: int, seed: int) -> dict:
    """Best-of-``repeats`` examples/s for the wrapper and the bare loop, training and inference."""
    texts, labels = benchmark_texts(n, seed)
    TransformerClassifier(model_name, epochs=1, batch_size=batch_size).fit(texts[:2 * batch_size],
                                                                          labels[:2 * batch_size])  # warm-up
    best = {"wrapper_train": np.inf, "bare_train": np.inf, "wrapper_infer": np.inf, "bare_infer": np.inf,
            "wrapper_fit_total": np.inf}
    for _ in range(repeats):
        started = time.perf_counter()
        classifier = TransformerClassifier(model_name, epochs=epochs, batch_size=batch_size, learning_rate=2e-5,
                                           random_state=seed).fit(texts, labels)
        best["wrapper_fit_total"] = min(best["wrapper_fit_total"], time.perf_counter() - started)
        best["wrapper_train"] = min(best["wrapper_train"], sum(record["seconds"] for record in classifier.history_))
        tokens = finetune.pretokenize(classifier.tokenizer_, texts, classifier.max_length)
        targets = torch.tensor([classifier.classes_.tolist().index(label) for label in labels])
        best["bare_train"] = min(best["bare_train"], bare_training_seconds(
            model_name, tokens, targets, classifier.tokenizer_.pad_token_id, epochs, batch_size, 2e-5,
            classifier.device_, seed))
        started = time.perf_counter()
        classifier.predict_proba(texts)
        best["wrapper_infer"] = min(best["wrapper_infer"], time.perf_counter() - started)
        best["bare_infer"] = min(best["bare_infer"], bare_inference_seconds(
            classifier.model_, tokens, classifier.eval_batch_size, classifier.device_))
    trained, device = n * epochs, str(classifier.device_)
    return {"model": model_name, "device": device,
            "train ex/s (wrapper)": trained / best["wrapper_train"], "train ex/s (bare)": trained / best["bare_train"],
            "train ratio": best["bare_train"] / best["wrapper_train"],
            "fit ex/s incl. load": trained / best["wrapper_fit_total"],
            "infer ex/s (wrapper)": n / best["wrapper_infer"], "infer ex/s (bare)": n / best["bare_infer"],
            "infer ratio": best["bare_infer"] / best["wrapper_infer"]}


def paper_scores(model_names: list[str], epochs: int, learning_rate: float, batch_size: int, seed: int) -> pd.DataFrame:
    """Macro-F1 and accuracy on the test titles after training on bootstrap + cluster."""
    from alsafe.paper import data

    train = pd.concat([data.load_split("bootstrap"), data.load_split("cluster")], ignore_index=True)
    test = data.load_split("test")
    rows = []
    learners = [("tfidf-lr", lambda: TfidfLogisticRegression(random_state=seed))]
    learners += [(name, lambda name=name: TransformerClassifier(name, epochs=epochs, learning_rate=learning_rate,
                                                                batch_size=batch_size, random_state=seed))
                 for name in model_names]
    for name, make in learners:
        started = time.perf_counter()
        learner = make().fit(train["text"], train["label"])
        fitted = time.perf_counter()
        predicted = learner.predict(test["text"])
        rows.append({"learner": name, "train": len(train), "test": len(test),
                     "macro-F1": f1_score(test["label"], predicted, average="macro"),
                     "accuracy": accuracy_score(test["label"], predicted),
                     "fit s": fitted - started, "predict s": time.perf_counter() - fitted})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None,
                        help="models to run (default: minilm-l2 all-MiniLM-L6-v2; with --paper: all-MiniLM-L6-v2)")
    parser.add_argument("--n", type=int, default=256, help="texts per throughput run")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per throughput run")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="throughput runs per model; the best is kept")
    parser.add_argument("--paper", action="store_true", help="measure macro-F1 on the paper's test titles instead")
    parser.add_argument("--paper-epochs", type=int, default=5)
    parser.add_argument("--paper-learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (1 gives steadier numbers on a machine shared with other jobs)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}\n")
    if args.paper:
        table = paper_scores(args.models or [models.MINILM], args.paper_epochs, args.paper_learning_rate,
                             args.batch_size, args.seed)
        print(markdown(table, 3))
        return
    rows = [throughput(name, args.n, args.epochs, args.batch_size, args.repeats, args.seed)
            for name in (args.models or ["minilm-l2", models.MINILM])]
    print(markdown(pd.DataFrame(rows), 2))
    print("\nratio = bare seconds / wrapper seconds (1.00: no overhead; >= 0.90 meets the target)")


if __name__ == "__main__":
    main()
