"""The offline evaluation report: a results table, plots and a markdown file.

Pure formatting (``table_markdown``) is kept apart from the file writing so the
table can be printed by the CLI and pasted into docs/benchmarks.md unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streams.eval.metrics import windowed

COLUMNS = ("hr@10", "ndcg@10", "hr@20", "ndcg@20", "coverage@10")
LABELS = {"hr@10": "HR@10", "ndcg@10": "NDCG@10", "hr@20": "HR@20", "ndcg@20": "NDCG@20", "coverage@10": "Coverage@10"}


@dataclass
class Report:
    """Everything one offline run measured."""

    split: str
    scored: int
    rows: dict[str, dict[str, float]]  # scorer name -> summary()
    traces: dict[str, list[float]]  # scorer name -> per scored event hit@10
    source_share: dict[str, float] = field(default_factory=dict)  # product HR@10 hits by source
    weights: dict[str, float] = field(default_factory=dict)  # fusion weights used
    tuning: list[tuple[dict[str, float], float]] = field(default_factory=list)  # (weights, validation HR@10)
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)


def table_markdown(rows: dict[str, dict[str, float]]) -> str:
    """One line per scorer, metrics to four decimals."""
    head = "| scorer | " + " | ".join(LABELS[c] for c in COLUMNS) + " |"
    lines = [head, "|---|" + "---:|" * len(COLUMNS)]
    for name, summary in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{summary.get(c, float('nan')):.4f}" for c in COLUMNS) + " |")
    return "\n".join(lines)


def share_markdown(share: dict[str, float]) -> str:
    lines = ["| source | share of HR@10 hits |", "|---|---:|"]
    lines += [f"| {s} | {v:.3f} |" for s, v in sorted(share.items(), key=lambda p: -p[1])]
    return "\n".join(lines)


def report_markdown(report: Report, plot_names: list[str]) -> str:
    """The whole report as markdown (plots referenced by file name)."""
    parts = [
        f"# Offline quality: MovieLens-100K temporal replay ({report.split})",
        f"{report.scored:,} scored events (rating >= 4 after the warm-up); {report.seconds:.0f} s.",
        "", table_markdown(report.rows), "",
    ]
    if report.weights:
        parts += ["Fusion weights: " + ", ".join(f"{k} {v:g}" for k, v in report.weights.items()), ""]
    if report.source_share:
        parts += ["## Which sources the product's hits came from", "", share_markdown(report.source_share), ""]
    if report.tuning:
        best = sorted(report.tuning, key=lambda p: -p[1])[:5]
        parts += ["## Best weights on the validation replay", "",
                  "| weights | HR@10 (validation) |", "|---|---:|"]
        parts += [f"| {', '.join(f'{k} {v:g}' for k, v in w.items())} | {hr:.4f} |" for w, hr in best]
        parts.append("")
    parts += [f"![{name}]({name})" for name in plot_names]
    return "\n".join(parts) + "\n"


def _plot_traces(report: Report, path: Path, window: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, trace in report.traces.items():
        ys = windowed(trace, window)
        ax.plot([window * (i + 0.5) for i in range(len(ys))], ys, label=name, marker=".")
    ax.set_xlabel(f"scored event (windows of {window})")
    ax.set_ylabel("HR@10")
    ax.set_title(f"HR@10 over the {report.split} replay")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_share(share: dict[str, float], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(share, key=lambda s: -share[s])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(names, [share[n] for n in names], color="tab:blue")
    ax.set_ylabel("share of HR@10 hits")
    ax.set_title("Per-source hit share (product fusion)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: Report, out_dir: Path, window: int = 2000) -> list[Path]:
    """Write ``quality-<split>.md`` and its PNGs into ``out_dir``; returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = [f"hr10-windows-{report.split}.png"]
    _plot_traces(report, out_dir / plots[0], window)
    if report.source_share:
        plots.append(f"source-share-{report.split}.png")
        _plot_share(report.source_share, out_dir / plots[-1])
    md = out_dir / f"quality-{report.split}.md"
    md.write_text(report_markdown(report, plots), encoding="utf-8")
    report.files = [md] + [out_dir / p for p in plots]
    return report.files
