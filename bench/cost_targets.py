"""`python -m bench.cost_targets`: bench/cost_targets.png, issue 18's targets against what was measured.

One panel per target: before (the code when the issue was filed, e52c182), after (this checkout), the measured
floor of the same figure (the least an aiohttp + psycopg service on a durable PostgreSQL does in the same harness:
bench/floor_service.py, bench/floor_queue.py, or the in-memory World for the DevKit workloads) and the target.
The numbers are the medians recorded in bench/RESULTS.md, "Issues 16 and 18 on an idle machine", each with the
command that measured it; this script only draws them (needs the bench extra: pip install -e '.[bench]').
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PLOT = Path(__file__).resolve().parent / "cost_targets.png"


@dataclass(frozen=True)
class Figure:
    title: str
    unit: str
    before: float
    after: float
    floor: float | None
    target: float
    lower_is_better: bool = True


# 2026-12-07, 2 cores, load 0.6-2.6, same sittings (see RESULTS.md for every run).
FIGURES = [
    Figure("service + PostgreSQL CPU\nper sequential step", "ms", 14.3, 15.4, 3.0, 5.0),
    Figure("seq10 wall time\n(floor: in-memory World)", "ms", 214, 241, 90, 1.6 * 90),
    Figure("par10 wall time\n(target: world-postgres)", "ms", 128, 138, 66, 109),
    Figure("single-message enqueues\n(16 enqueuers, delivered)", "msg/s", 617, 550, 1317, 3 * 617,
           lower_is_better=False),
    Figure("batched enqueues\n(batches of 100)", "msg/s", 911, 7682, 31171, 10 * 911, lower_is_better=False),
    Figure("enqueue → handler p50, idle", "ms", 2.75, 3.17, 2.20, 1.5),
    Figure("events.create service time p50", "ms", 1.40, 1.46, 0.50, 0.5),
]


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 4
    rows = -(-len(FIGURES) // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(3.4 * columns, 3.6 * rows))
    axes = list(grid.flat)
    for ax in axes[len(FIGURES):]:
        ax.axis("off")
    for ax, f in zip(axes, FIGURES, strict=False):
        labels = ["before", "after"] + (["floor"] if f.floor is not None else [])
        values = [f.before, f.after] + ([f.floor] if f.floor is not None else [])
        colors = ["#9e9e9e", "#1f77b4", "#2ca02c"][: len(values)]
        ax.bar(labels, values, color=colors)
        ax.axhline(f.target, color="#d62728", linestyle="--", linewidth=1.5,
                   label=f"target {'≤' if f.lower_is_better else '≥'} {f.target:g}")
        ax.set_title(f.title, fontsize=9)
        ax.set_ylabel(f.unit)
        ax.legend(fontsize=7, loc="upper left")
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:g}", ha="center", va="bottom", fontsize=7)
    fig.suptitle("Issue 18 targets, 2-core machine, idle (load < 3), 2026-12-07\nbefore = e52c182, after = main, "
                 "floor = bare aiohttp + psycopg (or the in-memory World); red: the target", fontsize=9)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    print(f"wrote {PLOT}")


if __name__ == "__main__":
    main()
