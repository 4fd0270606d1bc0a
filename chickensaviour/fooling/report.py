"""Figures and tables of fooling runs, as bytes or text (the CLI writes them).

Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from chickensaviour.fooling.evolution import GenerationStats
from chickensaviour.lab.report import figure_png

HISTORY_FIELDS = ("generation", "evaluated", "seconds", "filled", "median", "at_99", "at_9999")


def history_csv(history: Sequence[GenerationStats]) -> str:
    """One row per generation: images scored, seconds, median confidence, classes fooled."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_FIELDS)
    for stats in history:
        writer.writerow([stats.generation, stats.evaluated, f"{stats.seconds:.2f}",
                         stats.filled, f"{stats.median:.6f}", stats.at_99, stats.at_9999])
    return buffer.getvalue()


def history_png(history: Sequence[GenerationStats], title: str) -> bytes:
    """The median champion confidence and the classes at >= 99% / 99.99%, per generation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    generations = [s.generation for s in history]
    figure, left = plt.subplots(figsize=(7.5, 4.2))
    left.plot(generations, [s.median for s in history], color="tab:blue",
              label="median confidence")
    left.set_xlabel("generation")
    left.set_ylabel("median champion confidence", color="tab:blue")
    left.set_ylim(0.0, 1.0)
    right = left.twinx()
    right.plot(generations, [s.at_99 for s in history], color="tab:green", label=">= 99%")
    right.plot(generations, [s.at_9999 for s in history], color="tab:red", linestyle="--",
               label=">= 99.99%")
    right.set_ylabel("classes fooled")
    right.set_ylim(bottom=0)
    lines = left.get_lines() + right.get_lines()
    left.legend(lines, [line.get_label() for line in lines], loc="upper left", fontsize=8)
    left.set_title(title, fontsize=9)
    return figure_png(figure)


def rounds_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The retraining rounds as a Markdown table (one row per round and encoding)."""
    lines = [
        "| round | encoding | test accuracy | fooling images in training | last round's "
        "held-out fooling images caught | classes fooled at 99.99% | median generations | "
        "max generations |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        caught = row["held_out_fooling_caught"]
        lines.append(
            f"| {row['round']} | {row['encoding']} | {row['test_accuracy']:.4f} | "
            f"{row['fooling_images_in_training']} | "
            f"{'-' if caught is None else f'{caught:.1%}'} | {row['classes_fooled_9999']}/10 | "
            f"{_number(row['median_generations_to_fool'])} | "
            f"{_number(row['max_generations_to_fool'])} |")
    return "\n".join(lines) + "\n"


def rounds_png(rows: Sequence[dict[str, Any]]) -> bytes:
    """Classes fooled at 99.99% and the median generations needed, per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7.0, 6.0), sharex=True)
    for encoding in dict.fromkeys(row["encoding"] for row in rows):
        mine = [row for row in rows if row["encoding"] == encoding]
        rounds = [row["round"] for row in mine]
        top.plot(rounds, [row["classes_fooled_9999"] for row in mine], marker="o",
                 label=encoding)
        bottom.plot(rounds, [row["median_generations_to_fool"] or float("nan")
                             for row in mine], marker="o", label=encoding)
    caught = [(row["round"], row["held_out_fooling_caught"]) for row in rows
              if row["held_out_fooling_caught"] is not None]
    top.set_ylabel("digits fooled at >= 99.99%")
    top.set_ylim(0, 10.5)
    top.legend(fontsize=8)
    top.set_title("Retraining with a 'fooling' class (Nguyen et al. 2015, §3.3)")
    bottom.set_ylabel("median generations to fool")
    bottom.set_xlabel("round (0: the original LeNet-5)")
    bottom.set_ylim(bottom=0)
    if caught:
        right = bottom.twinx()
        right.plot([r for r, _ in caught], [c for _, c in caught], color="grey",
                   linestyle=":", marker="x", label="last round's held-out images caught")
        right.set_ylabel("held-out fooling images called 'fooling'", fontsize=8)
        right.set_ylim(0, 1.05)
        right.legend(loc="lower right", fontsize=8)
    bottom.legend(loc="upper left", fontsize=8)
    return figure_png(figure)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
