"""PNG plots of a run summary (matplotlib, Agg backend, imported only when plotting).

- `scaling.png`, the test-time scaling curve: F1 against LLM tokens per question, one panel per dataset,
  one line per method through its budgets (a budget-independent method is one point).
- `recall.png`: gold-passage Recall@k against k, one panel per dataset, one line per method and budget.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

SCALING_PNG = "scaling.png"
RECALL_PNG = "recall.png"


def write_plots(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write both plots into `out_dir`; the paths written (none for an empty summary)."""
    if not summary["rows"]:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    return [plot_scaling(summary, out_dir / SCALING_PNG), plot_recall(summary, out_dir / RECALL_PNG)]


def plot_scaling(summary: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    datasets = _datasets(summary)
    figure, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=True):
        by_method: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in summary["rows"]:
            if row["dataset"] == dataset:
                by_method[row["method"]].append(row)
        for method, rows in by_method.items():
            rows = sorted(rows, key=lambda r: r["tokens_per_q"])
            xs, ys = [r["tokens_per_q"] for r in rows], [r["f1"] for r in rows]
            axis.plot(xs, ys, marker="o", label=method)
            for row in rows:
                axis.annotate(
                    row["budget"],
                    (row["tokens_per_q"], row["f1"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        questions = max(r["questions"] for rows in by_method.values() for r in rows)
        best = max(r["f1"] for rows in by_method.values() for r in rows)
        axis.set_ylim(0, max(0.1, 1.1 * best))
        axis.set_title(f"{dataset} (n={questions})")
        axis.set_xlabel("LLM tokens per question")
        axis.set_ylabel("answer F1")
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    return _save(figure, path, plt)


def plot_recall(summary: dict[str, Any], path: Path) -> Path:
    plt = _pyplot()
    datasets = _datasets(summary)
    ks = list(summary["ks"])
    figure, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
    for axis, dataset in zip(axes[0], datasets, strict=True):
        for row in (r for r in summary["rows"] if r["dataset"] == dataset):
            axis.plot(ks, [row[f"recall@{k}"] for k in ks], marker="o", label=f"{row['method']}/{row['budget']}")
        axis.set_title(dataset)
        axis.set_xlabel("k (distinct documents)")
        axis.set_ylabel("gold-passage recall@k")
        axis.set_xticks(ks)
        axis.set_ylim(0, 1.02)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    return _save(figure, path, plt)


def _datasets(summary: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(row["dataset"] for row in summary["rows"]))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path, plt: Any) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
