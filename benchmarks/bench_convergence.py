"""Is a training budget long enough? Test macro-F1 of a fine-tuned model against its optimizer steps.

Fine-tunes ``--model`` (default all-MiniLM-L6-v2) on one training set of the paper's data (default the
150 bootstrap titles, Table 4's setting) for each budget in ``--steps`` (optimizer steps, warm-up 10%,
the dev split choosing the best epoch), per seed, and prints test macro-F1 (percent, 2,700 titles)
beside the few-label baselines (``--baselines``: the frozen encoder ``embedding-lr``, ``setfit``, ...).
A budget is long enough when more steps stop adding: that is how the quick default's protocol
(``PROTOCOLS`` of notebook 05 in params/paper.yaml) was chosen. Prints a table; never asserts::

    ALSAFE_DATA_DIR=... python benchmarks/bench_convergence.py --steps 30 100 200 400 --seeds 0 1
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from alsafe.learn.learners import make_learner
from alsafe.metrics import classification_scores
from alsafe.paper import data, experiments
from alsafe.paper.reference import PAPER_TAXONOMY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--setting", default="baseline", choices=experiments.SETTINGS)
    parser.add_argument("--approach", default="baseline")
    parser.add_argument("--steps", type=int, nargs="*", default=[30, 100, 200, 400])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--baselines", nargs="*", default=["embedding-lr"],
                        help="learners with their own recipe, run once per seed (embedding-lr, setfit, ...)")
    args = parser.parse_args()

    dataset = data.load_paper_dataset()
    train = experiments.training_set(dataset, args.setting, args.approach)
    dev, test = dataset[dataset["split"] == "dev"], dataset[dataset["split"] == "test"]
    classes = PAPER_TAXONOMY.names
    rows = []
    for seed in args.seeds:
        for name, steps in [(b, None) for b in args.baselines] + [(args.model, s) for s in args.steps]:
            started = time.perf_counter()
            learner = make_learner(name, random_state=seed, classes=classes, max_steps=steps, warmup_ratio=0.1,
                                   learning_rate=args.learning_rate, dev_texts=dev["text"].tolist(),
                                   dev_labels=dev["label"].tolist())
            learner.fit(train["text"].tolist(), train["label"].tolist())
            seconds = time.perf_counter() - started
            f1 = classification_scores(test["label"], learner.predict(test["text"].tolist()), classes)["f1"]
            best = getattr(learner, "history_", None)
            rows.append({"learner": name, "seed": seed, "steps": steps or "", "epochs": len(best) if best else "",
                         "best dev epoch": learner.best_epoch_ if best else "", "test macro-F1": round(f1, 1),
                         "fit s": round(seconds, 1)})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(f"\n{args.model} on {args.setting}/{args.approach} ({len(train)} titles), lr {args.learning_rate}\n")
    print(table.to_string(index=False))
    summary = table.groupby(["learner", "steps"], sort=False)["test macro-F1"].agg(["mean", "std", "count"])
    print("\n" + summary.round(1).to_string())


if __name__ == "__main__":
    main()
