"""The generated READMEs, rendered from ``results/`` alone: every number and every claim in them.

:func:`write_readmes` is the one renderer, run by the pipeline's front door after a paper plan (see
:mod:`alsafe.reproduce`), never by a notebook and never after a plan on your own data. It writes
``results/README.md`` (:func:`results_readme`: every written table and figure, ours beside the paper's)
and the section between the project README's ``<!-- results:start -->`` and ``<!-- results:end -->``
markers (:func:`results_section`, through :func:`alsafe.report.splice_section`); a test regenerates
the section from the committed files and compares.

Claims are rules over the files, not prose typed beside them: a difference is called a gain only when
its paired 95% interval lies above zero, a loss only when it lies below, and "no difference shown"
otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from alsafe import config, report
from alsafe.metrics import SCORE_NAMES
from alsafe.paper.data import TRAINING_SPLITS

MARKER = "results"
APPROACHES = TRAINING_SPLITS


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else None


def _pm(mean, std) -> str:
    if pd.isna(mean):
        return ""
    return f"{mean:.1f}" if pd.isna(std) else f"{mean:.1f} ± {std:.1f}"


def _interval(difference, low, high) -> str:
    return f"{difference:+.1f} [{low:+.1f}, {high:+.1f}]"


def verdict(low: float, high: float) -> str:
    """``gain`` when the whole interval is above 0, ``loss`` when below, else ``no difference shown``."""
    return "gain" if low > 0 else "loss" if high < 0 else "no difference shown"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *[_row(r) for r in rows]]


def _pipeline(folder: Path) -> list[str]:
    times = _read(folder, "pipeline")
    if times is None:
        return []
    meta = json.loads((folder / "pipeline.meta.json").read_text()) if (folder / "pipeline.meta.json").exists() else {}
    total = times["seconds"].sum()
    cells = ", ".join(f"{r.notebook[:2]} {r.seconds / 60:.1f}" for r in times.itertuples())
    return [f"`make paper` ({meta.get('params', {}).get('params_file', 'params/paper.yaml')}, commit "
            f"`{meta.get('git_commit')}`) took **{total / 60:.0f} min** on this 2-core CPU machine "
            f"(minutes per notebook: {cells}).", ""]


def _transfer(folder: Path) -> list[str]:
    lines = []
    for table_id, title in [("table4", "bootstrap only (Table 4)"), ("table5", "without LLM (Table 5)"),
                            ("table6", "with LLM (Table 6)")]:
        table = _read(folder, table_id)
        if table is None:
            continue
        ours = table[table["n_seeds"].notna()]
        rows = []
        for (model, protocol), group in ours.groupby(["model", "protocol"], sort=False):
            cells = group.set_index("approach")
            rows.append([model, protocol, int(cells["n_seeds"].iloc[0])]
                        + [_pm(cells.loc[a, "f1"], cells.loc[a, "f1_std"]) if a in cells.index else ""
                           for a in ("baseline",) + APPROACHES])
        paper = table[(table["model"] == "roberta-base") & table["f1 (paper)"].notna()].set_index("approach")
        rows.append(["*roberta-base (paper)*", "*paper*", 1]
                    + [f"*{paper.loc[a, 'f1 (paper)']:.1f}*" if a in paper.index else "" for a in ("baseline",) + APPROACHES])
        rows = [[r[0], r[1], r[2]] + [c for c, a in zip(r[3:], ("baseline",) + APPROACHES)
                                      if (table_id == "table4") == (a == "baseline")] for r in rows]
        columns = ["bootstrap only"] if table_id == "table4" else list(APPROACHES)
        lines += [f"**Macro-F1, {title}** (`results/{table_id}.csv`, mean ± std over seeds, 2,700 test titles):", ""]
        lines += _table(["model", "protocol", "seeds", *columns], rows) + [""]
    return lines


def _compute_matched(folder: Path) -> tuple[list[str], list[str]]:
    table = _read(folder, "compute_matched")
    if table is None or table.empty:
        return [], []
    rows, claims = [], []
    for _, r in table.iterrows():
        rows.append([r["model"], r["protocol"], r["approach"]]
                    + [_pm(r[f"{setting} f1"], r[f"{setting} f1_std"]) for setting in ("baseline", "without-llm", "with-llm")]
                    + [_interval(r["llm_gain"], r["llm_gain_low"], r["llm_gain_high"]),
                       verdict(r["llm_gain_low"], r["llm_gain_high"])])
    lines = ["**What the LLM variations add at equal compute** (`results/compute_matched.csv`: the same optimizer "
             "steps, or a solver run to convergence, at 150, 250 and 750 titles; gain = with − without LLM, "
             "paired bootstrap 95% CI):", ""]
    lines += _table(["model", "protocol", "approach", "bootstrap only", "without LLM", "with LLM", "LLM gain",
                     "verdict"], rows) + [""]
    for model, group in table.groupby("model", sort=False):
        gains = [verdict(lo, hi) for lo, hi in zip(group["llm_gain_low"], group["llm_gain_high"])]
        claims.append(f"LLM variations at equal compute, {model}: a gain for {gains.count('gain')} of {len(gains)} "
                      f"approaches, a loss for {gains.count('loss')} (mean gain {group['llm_gain'].mean():+.1f} F1; "
                      "`results/compute_matched.csv`).")
    return lines, claims


def _cluster(folder: Path) -> tuple[list[str], list[str]]:
    table = _read(folder, "cluster_ci")
    if table is None:
        return [], []
    ours = table[table["n_seeds"].notna()]
    rows, claims = [], []
    for (setting, model), group in ours.groupby(["setting", "model"], sort=False):
        cells = group.set_index("approach")
        paper = table[(table["setting"] == setting) & (table["model"] == "roberta-base")].set_index("approach")
        rows.append([setting, model] + [f"{_interval(cells.loc[a, 'difference'], cells.loc[a, 'low'], cells.loc[a, 'high'])}"
                                        f" ({verdict(cells.loc[a, 'low'], cells.loc[a, 'high'])})"
                                        if a in cells.index else "" for a in APPROACHES[:3]]
                    + [", ".join(f"{paper.loc[a, 'difference (paper)']:+.1f}" for a in APPROACHES[:3]
                                 if a in paper.index)])
        wins = sum(lo > 0 for lo in group["low"])
        claims.append(f"Cluster vs the other approaches, {model}, {setting}: ahead of {wins} of {len(group)} with an "
                      f"interval above zero, behind {sum(hi < 0 for hi in group['high'])} (`results/cluster_ci.csv`).")
    lines = ["**Cluster minus each other approach** (macro-F1, paired bootstrap 95% CI over test items, "
             "`results/cluster_ci.csv`; the paper's roberta-base single-run differences beside):", ""]
    lines += _table(["setting", "model", "− Random", "− TopN", "− Coreset", "paper (R, T, C)"], rows) + [""]
    return lines, claims


def _simulation(folder: Path) -> tuple[list[str], list[str]]:
    balance, curves = _read(folder, "simulation_balance"), _read(folder, "simulation_learning_curves")
    if balance is None or curves is None or "pool_mix" not in balance.columns:
        return [], []
    last = curves[curves["n_acquired"] == curves.groupby(["pool_mix", "strategy", "generation"])["n_acquired"]
                  .transform("max")].set_index(["pool_mix", "strategy", "generation"])
    rows, claims = [], []
    for _, r in balance.iterrows():
        key = (r["pool_mix"], r["strategy"], r["generation"])
        f1 = last.loc[key] if key in last.index else None
        rows.append([r["pool_mix"], r["strategy"], "yes" if r["generation"] else "no", int(r["n_seeds"]),
                     _pm(r["std"], r["std_sd"]), f"{r['Emergency-Situation']:.1f}",
                     "" if f1 is None else f"{f1['test_macro_f1']:.1f} [{f1['test_macro_f1_low']:.1f}, "
                                           f"{f1['test_macro_f1_high']:.1f}]"])
    for (mix, generation), group in balance.groupby(["pool_mix", "generation"], sort=False):
        by = group.set_index("strategy")
        if {"cluster", "random"} <= set(by.index):
            c, r = by.loc["cluster"], by.loc["random"]
            evener = "more even than" if c["std"] + c["std_sd"] < r["std"] - r["std_sd"] else \
                "less even than" if c["std"] - c["std_sd"] > r["std"] + r["std_sd"] else \
                "about as even as (within a std over seeds)"
            claims.append(f"Simulation, {mix} pool{' with generation' if generation else ''}: what Cluster bought is "
                          f"{evener} Random's (class-count std {c['std']:.1f} vs {r['std']:.1f}; emergencies "
                          f"{c['Emergency-Situation']:.1f} vs {r['Emergency-Situation']:.1f} of 100; "
                          "`results/simulation_balance.csv`).")
    lines = ["**Simulated Algorithm 1** (`results/simulation_balance.csv`, `results/simulation_learning_curves.csv`; "
             "100 labels in 5 rounds of 20; class-count std of what was bought, mean ± std over seeds; held-out "
             "macro-F1 after the last round with its 95% interval):", ""]
    lines += _table(["pool", "strategy", "generation", "seeds", "class-count std", "emergencies bought",
                     "held-out macro-F1"], rows) + [""]
    return lines, claims


def _gate(folder: Path) -> tuple[list[str], list[str]]:
    table, summary = _read(folder, "gate_benchmark"), _read(folder, "generation_summary")
    if table is None:
        return [], []
    rows = [[r["filter"], int(r["rejected"]), f"{r['precision']:.1f}", f"{r['recall']:.1f}",
             f"{r['rejected % on-label']:.1f}", f"{r['rejected % off-label']:.1f}", f"{r['rejected % injected']:.1f}"]
            for _, r in table.iterrows()]
    lines = ["**The label-keeping gate, measured** (`results/gate_benchmark.csv`: the paper's Cluster-split variations "
             "under their own label, the same texts under another class's label, and injected or degenerate answers; "
             "label gate = `embedding-lr` trained on the 150 bootstrap titles, p ≥ 0.8):", ""]
    lines += _table(["filter", "rejected", "precision %", "recall %", "% of on-label rejected",
                     "% of off-label rejected", "% of injected rejected"], rows) + [""]
    whole = table.set_index("filter").loc["whole gate"]
    claims = [f"The whole gate rejects {whole['rejected % off-label']:.1f}% of off-label variations and "
              f"{whole['rejected % injected']:.1f}% of injected answers, losing {whole['rejected % on-label']:.1f}% "
              "of good ones (`results/gate_benchmark.csv`)."]
    if summary is not None:
        kept = summary.groupby("backend", sort=False)[["returned", "accepted"]].sum()
        lines += ["Variations the filters let through in notebook 04's previews (`results/generation_summary.csv`): "
                  + "; ".join(f"{b} {int(r.accepted)} of {int(r.returned)}" for b, r in kept.iterrows())
                  + " (replay serves the paper's own outputs unfiltered).", ""]
    return lines, claims


def _table3(folder: Path) -> tuple[list[str], list[str]]:
    table = _read(folder, "table3")
    if table is None:
        return [], []
    std = table.set_index("class").loc["Standard Deviation"]
    cells = ", ".join(f"{s} {std[s]:.1f} (paper {std[f'{s} (paper)']:.1f})" for s in APPROACHES)
    claim = ("Table 3 (class-count std of the released splits) reproduces from the files: "
             f"{cells}; `results/table3.csv`.")
    return [], [claim]


def results_section(folder: Path | None = None) -> str:
    """The README's results section as Markdown, from the files in ``folder`` (default ``results/``)."""
    folder = Path(folder) if folder else config.results_dir()
    lines = ["<!-- Generated by alsafe.paper.conclusions.write_readmes() from results/*.csv; do not edit by hand. -->",
             ""]
    lines += _pipeline(folder)
    _, claims = _table3(folder)
    matched, matched_claims = _compute_matched(folder)
    cluster, cluster_claims = _cluster(folder)
    simulation, simulation_claims = _simulation(folder)
    gate, gate_claims = _gate(folder)
    lines += ["**What the numbers say** (each line is derived from the file it names; an interval that includes "
              "zero is reported as no difference):", ""]
    lines += [f"- {claim}" for claim in claims + matched_claims + cluster_claims + simulation_claims + gate_claims]
    lines += [""] + _transfer(folder) + matched + cluster + simulation + gate
    return "\n".join(lines).rstrip() + "\n"


# -- results/README.md: every written table and figure ---------------------------------------------------------------

def _cell(value, column: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        if column.startswith("n_") or column == "n":
            return str(int(value))
        return f"{value:.3f}" if column.startswith("p_") else f"{value:.1f}"
    return str(value).replace("|", "\\|")


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(_cell(v, str(c)) for v, c in zip(row, table.columns)) + " |"
            for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _pm_column(table: pd.DataFrame, metric: str) -> list[str]:
    """``mean ± std`` strings (just the mean with one seed)."""
    return [("" if pd.isna(m) else f"{m:.1f}" if pd.isna(s) else f"{m:.1f} ± {s:.1f}")
            for m, s in zip(table[metric], table[f"{metric}_std"])]


def _scores_markdown(table: pd.DataFrame) -> str:
    view = table[["approach", "model"]].copy()
    view["n"] = table["n_seeds"].map(lambda n: "" if pd.isna(n) else int(n))
    for metric in SCORE_NAMES:
        view[metric] = _pm_column(table, metric)
        view[f"{metric} (paper)"] = table[f"{metric} (paper)"]
    return _markdown(view)


def results_readme(folder: Path | None = None, figures_folder: Path | None = None) -> str:
    """The written tables (ours beside the paper's) and figures as Markdown, for ``results/README.md``."""
    folder = Path(folder) if folder else config.results_dir()
    figures_folder = Path(figures_folder) if figures_folder else config.figures_dir()

    def notes(name: str) -> list[str]:
        meta = folder / f"{name}.meta.json"
        return [f"*{note}*" for note in json.loads(meta.read_text()).get("notes", [])] + [""] if meta.exists() else []
    lines = ["# Results", "", "Generated by `alsafe.paper.conclusions.write_readmes()`; do not edit by hand. Our "
             "cells are mean ± sample std over seeds, scored on the test split; the paper's are single runs.", ""]
    meta = folder / "runs.meta.json"
    if meta.exists():
        info = json.loads(meta.read_text())
        params = info.get("params", {})
        lines += [f"Commit `{info.get('git_commit')}`; models {params.get('models')}; seeds {params.get('seeds')}; "
                  f"epochs {params.get('epochs')}; {params.get('test_size')} test items; training wall time "
                  f"{info.get('wall_time_s')} s.", ""]
    titles = {"table4": "Table 4: baseline (bootstrap only)", "table5": "Table 5: without LLM generation",
              "table6": "Table 6: with LLM generation"}
    for table_id, title in titles.items():
        table = _read(folder, table_id)
        if table is not None:
            lines += [f"## {title}", "", _scores_markdown(table), "", *notes(table_id)]
    for table_id, title, columns in [
        ("table7", "Table 7: error examples", ["source", "approach", "text", "true", "predicted", "true (paper)",
                                               "predicted (paper)"]),
        ("table8", "Table 8: std of class-normalized errors (with LLM generation)", None),
        ("cluster_ci", "Cluster minus each approach: macro-F1 difference, paired bootstrap 95% CI", None),
        ("figure3", "Figure 3: true classes of sampled errors", None),
        ("leak_check", "Leak check: test titles found in training or dev splits",
         ["test_id", "test_text", "test_label", "split", "id", "label", "same_post"]),
    ]:
        table = _read(folder, table_id)
        if table is not None:
            lines += [f"## {title}", "", _markdown(table[columns] if columns else table) if len(table) else
                      "None.", "", *notes(table_id)]
    for figure in ("figure3", "confusion_with-llm", "per_class_f1"):
        if (figures_folder / f"{figure}.png").exists():
            lines += [f"![{figure}]({os.path.relpath(figures_folder / f'{figure}.png', folder)})", ""]
    return "\n".join(lines)


def write_readmes(home: Path | None = None) -> list[Path]:
    """Render every generated README section from ``<home>/results`` and ``<home>/figures`` (default
    :func:`alsafe.config.home`): ``results/README.md``, and the results section of ``<home>/README.md``
    when that file holds the markers. Returns the files written."""
    home = Path(home) if home else config.home()
    results, figures = home / "results", home / "figures"
    written = [report.save_text(results_readme(results, figures), "README.md", folder=results)]
    readme = home / "README.md"
    if readme.exists() and f"<!-- {MARKER}:start -->" in readme.read_text(encoding="utf-8"):
        written.append(report.splice_section(results_section(results), MARKER, readme))
    return written
