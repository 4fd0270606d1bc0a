"""Figures and tables of lab results, as bytes (the CLI writes them).

Heatmaps and bar charts use matplotlib's Agg backend (no display needed); CSV and the
Markdown report page are plain text.
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np

from chickensaviour.lab.defend import DefendResult
from chickensaviour.lab.ensemble_lab import EnsembleResult
from chickensaviour.lab.transfer import SeedRow, TransferResult, eps_key


def figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return buffer.getvalue()


def heatmap_png(rates: np.ndarray, models: tuple[str, ...], title: str) -> bytes:
    """A source x target heatmap of success rates in ``[0, 1]``, values written in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 1.1 * len(models) + 1.5)
    figure, axes = plt.subplots(figsize=(size, size * 0.85))
    shown = np.nan_to_num(rates, nan=0.0)
    image = axes.imshow(shown, vmin=0.0, vmax=1.0, cmap="viridis")
    axes.set_xticks(range(len(models)), models, rotation=35, ha="right")
    axes.set_yticks(range(len(models)), models)
    axes.set_xlabel("evaluated on (target)")
    axes.set_ylabel("crafted on (source)")
    axes.set_title(title)
    for s in range(len(models)):
        for t in range(len(models)):
            value = rates[s, t]
            text = "-" if math.isnan(value) else f"{value:.2f}"
            axes.text(t, s, text, ha="center", va="center",
                      color="black" if shown[s, t] > 0.6 else "white", fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.046, label="attack success rate")
    return figure_png(figure)


def heatmap_name(attack: str, eps: float) -> str:
    return f"heatmap_{attack}_eps{eps_key(eps)}.png"


def transfer_csv(result: TransferResult) -> str:
    """One row per attack, eps, source and target: the rate and the counted images."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["attack", "eps_255", "source", "target", "success_rate", "counted_images"])
    counted = int(result.counted.sum())
    for attack in result.attacks:
        for ei, eps in enumerate(result.epsilons):
            rates = result.rates(attack, ei)
            for s, source in enumerate(result.models):
                for t, target in enumerate(result.models):
                    value = "" if np.isnan(rates[s, t]) else f"{rates[s, t]:.4f}"
                    writer.writerow([attack, eps_key(eps), source, target, value, counted])
    return out.getvalue()


def seed_table_markdown(rows: list[SeedRow]) -> str:
    lines = ["| architecture | clean prediction | index | confidence | adversarial prediction "
             "| index | confidence | fooled |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.model} | {r.clean_name} | {r.clean_index} | "
                     f"{r.clean_confidence:.3f} | {r.adv_name} | {r.adv_index} | "
                     f"{r.adv_confidence:.3f} | {'yes' if r.fooled else 'no'} |")
    return "\n".join(lines)


def rates_markdown(rates: np.ndarray, models: tuple[str, ...]) -> str:
    lines = ["| source \\ target | " + " | ".join(models) + " |",
             "|---|" + "---|" * len(models)]
    for s, source in enumerate(models):
        cells = ["-" if np.isnan(v) else f"{v:.2f}" for v in rates[s]]
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def transfer_markdown(result: TransferResult, image_names: list[str], seed_rows: list[SeedRow],
                      seed_caption: str) -> str:
    """The report page: settings, a rate table and heatmap per attack and eps, and the
    seed's table for one photo."""
    counted = [name for name, c in zip(image_names, result.counted, strict=True) if c]
    goal = ("untargeted" if result.target_class is None
            else f"targeted to class {result.target_class}")
    parts = [
        "# Transfer across architectures", "",
        f"- models: {', '.join(result.models)}",
        f"- attacks: {', '.join(result.attacks)} ({goal}), seed {result.seed}",
        f"- eps (1/255): {', '.join(eps_key(e) for e in result.epsilons)}",
        f"- images: {len(image_names)}, counted (every model right before the attack): "
        f"{len(counted)} ({', '.join(counted) or 'none'})", "",
        "Rows: the model the attack was crafted on; columns: the model judging the result. "
        "The diagonal is white-box success, the rest is transfer.", "",
        f"## The seed's table: {seed_caption}", "", seed_table_markdown(seed_rows), "",
    ]
    for attack in result.attacks:
        for ei, eps in enumerate(result.epsilons):
            parts += [f"## {attack}, eps {eps_key(eps)}/255", "",
                      rates_markdown(result.rates(attack, ei), result.models), "",
                      f"![{attack} eps {eps_key(eps)}]({heatmap_name(attack, eps)})", ""]
    return "\n".join(parts)


def defend_png(result: DefendResult, eps_index: int = 0) -> bytes:
    """Grouped bars per defence: clean accuracy, naive and adaptive attack success."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.scores)
    series = {
        "clean accuracy": [result.scores[n].clean_accuracy for n in names],
        "naive attack success": [result.scores[n].naive_success[eps_index] for n in names],
        "adaptive attack success": [result.scores[n].adaptive_success[eps_index] for n in names],
    }
    figure, axes = plt.subplots(figsize=(1.3 * len(names) + 3, 4))
    width = 0.27
    x = np.arange(len(names))
    for i, (label, values) in enumerate(series.items()):
        axes.bar(x + (i - 1) * width, np.nan_to_num(values), width, label=label)
    axes.set_xticks(x, names)
    axes.set_ylim(0, 1.25)  # room above the bars for the legend
    axes.set_ylabel("rate")
    aim = ("untargeted" if result.target_class is None
           else f"targeted to class {result.target_class}")
    axes.set_title(f"{result.model}: {result.attack} ({aim}) at eps "
                   f"{eps_key(result.epsilons[eps_index])}/255, {result.images} images")
    axes.legend(loc="upper center", fontsize=8, ncol=3)
    return figure_png(figure)


def ensemble_png(result: EnsembleResult, eps_index: int = 0) -> bytes:
    """Bars: success on each member, the ensemble, each held-out model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, values, colours = [], [], []
    palette = {"members": "tab:blue", "ensemble": "tab:orange", "held_out": "tab:grey"}
    for role, by_model in result.success.items():
        for model, rates in by_model.items():
            labels.append(model)
            values.append(rates[eps_index])
            colours.append(palette[role])
    figure, axes = plt.subplots(figsize=(1.2 * len(labels) + 2, 4))
    axes.bar(range(len(labels)), np.nan_to_num(values), color=colours)
    axes.set_xticks(range(len(labels)), labels, rotation=25, ha="right")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("attack success rate")
    axes.set_title(f"attacking {result.ensemble} ({result.attack}, eps "
                   f"{eps_key(result.epsilons[eps_index])}/255, {result.counted} images)")
    return figure_png(figure)


def json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2) + "\n").encode()
