"""The ``alsafe`` command line: ``data``, ``table3``, ``init``, ``reproduce``.

Any alsafe error (and a missing or existing file) prints one line and exits with 2; a failed notebook run with 1.
"""

from __future__ import annotations

import argparse
import sys
import time

from alsafe.exceptions import AlsafeError
from alsafe.paper import data


def _data_fetch(args) -> int:
    folder = data.paper_data_dir()
    print(f"The paper's seven files are verified in {folder}.")
    for note in data.dataset_notes(folder):
        print(f"  note: {note}")
    return 0


def _table3(args) -> int:
    from alsafe.paper.balance import table3, table3_notes
    from alsafe.report import save_table

    started = time.time()
    table = table3(data.load_paper_dataset())
    notes = table3_notes(table)
    path = save_table(table, "table3", params={"source": "released splits"}, started_at=started, notes=notes)
    print(table.to_string(index=False))
    print("\n".join(notes))
    print(f"Wrote {path}")
    return 0


def _reproduce(args) -> int:
    from alsafe.reproduce import PipelineError, is_paper_plan, load_plan, record_plan, run_plan, summary

    try:
        results = run_plan(load_plan(args.params, only=args.only), output_dir=args.output_dir)
    except PipelineError as error:
        print(f"alsafe reproduce: {error}", file=sys.stderr)
        return 1
    print(summary(results))
    # The paper's record (README sections, results/pipeline.csv) follows paper plans only: see alsafe.reproduce.
    for path in record_plan(results, args.params, whole=not args.only):
        print(f"Recorded {path}")
    if not is_paper_plan([r.notebook for r in results]):
        print("Not a paper plan: README.md and results/pipeline.csv are left as they are.")
    return 0


def _init(args) -> int:
    from alsafe.paper.reference import PAPER_TAXONOMY
    from alsafe.pools import start_run

    with start_run(args.run_path, args.pool, args.taxonomy or PAPER_TAXONOMY, bootstrap=args.bootstrap,
                   text_column=args.text_column, id_column=args.id_column, label_column=args.label_column) as store:
        pool, labeled = len(store.items("pool")), len(store.items("labeled"))
        print(f"Created {args.run_path}: {pool} pool items, {labeled} bootstrap labels, "
              f"taxonomy {', '.join(store.taxonomy.names)}.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alsafe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("data", help="download (or find via ALSAFE_DATA_DIR) and verify the paper's dataset")
    fetch.set_defaults(run=_data_fetch)
    t3 = commands.add_parser("table3", help="regenerate Table 3 into results/table3.csv")
    t3.set_defaults(run=_table3)
    init = commands.add_parser("init", help="start a run of your own from a pool file and a taxonomy")
    init.add_argument("--run", dest="run_path", required=True, help="the run store to create (e.g. runs/mine.sqlite)")
    init.add_argument("--pool", required=True, help="unlabeled texts: CSV, TSV, JSONL or Parquet")
    init.add_argument("--taxonomy", help="YAML with labels: [{name, description}] (default: the paper's six)")
    init.add_argument("--bootstrap", help="optional labeled file to start from")
    init.add_argument("--text-column", default="text")
    init.add_argument("--id-column", default="id")
    init.add_argument("--label-column", default="label")
    init.set_defaults(run=_init)
    reproduce = commands.add_parser("reproduce", help="run the numbered notebooks with papermill from a params file")
    reproduce.add_argument("--params", required=True, help="params/*.yaml naming notebooks and their parameters")
    reproduce.add_argument("--only", nargs="+", metavar="PREFIX", help="run only notebooks starting with these (e.g. 05)")
    reproduce.add_argument("--output-dir", default=None, help="where executed copies go (default outputs/)")
    reproduce.set_defaults(run=_reproduce)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (AlsafeError, ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"alsafe: {error}", file=sys.stderr)
        return 2
