"""Text tables and plots the CLI shows or saves."""

from __future__ import annotations

import io

from chickensaviour.attacks.sweep import SweepResult
from chickensaviour.models.wrapper import Prediction


def prediction_table(before: Prediction, after: Prediction, after_title: str) -> str:
    """Side-by-side top-k table, as in the seed's cat -> reflex camera example."""
    width = max([len(n) for n in before.names + after.names] + [len(after_title) - 8, 14])
    lines = [f"    {'before':<{width + 8}}  {after_title}"]
    for rank, (name_b, p_b, name_a, p_a) in enumerate(
        zip(before.names, before.probabilities, after.names, after.probabilities, strict=True),
        start=1,
    ):
        lines.append(f" {rank}  {name_b:<{width}} {p_b:7.4f}  {name_a:<{width}} {p_a:7.4f}")
    return "\n".join(lines)


def sweep_csv(result: SweepResult, class_name: str) -> str:
    """One row per epsilon: eps (1/255 and pixel units), target probability, top-1."""
    rows = ["eps_255,eps,target,target_probability,top1,top1_probability"]
    for eps, probability, top in zip(
        result.epsilons.tolist(), result.target_probabilities.tolist(), result.top_classes,
        strict=True,
    ):
        top_name = top.names[0].replace('"', "'")
        rows.append(
            f'{eps * 255:.4f},{eps:.6f},"{class_name}",{probability:.6f},"{top_name}",'
            f"{top.probabilities[0]:.6f}"
        )
    return "\n".join(rows) + "\n"


def sweep_plot_png(result: SweepResult, class_name: str, title: str) -> bytes:
    """The probability-vs-eps curve (target and the original top-1) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    eps = (result.epsilons * 255).numpy()
    figure = Figure(figsize=(7, 4), dpi=120)
    axes = figure.subplots()
    axes.plot(eps, result.target_probabilities.numpy(), color="tab:red", lw=2,
              label=f"p({class_name})")
    axes.axvline(result.best_eps * 255, color="tab:red", ls="--", lw=1,
                 label=f"best eps = {result.best_eps * 255:.1f}/255 "
                 f"(p = {result.best_probability:.3f})")
    axes.axvline(0, color="grey", lw=0.8)
    axes.set_xlabel("epsilon (1/255 units; negative = towards the target)")
    axes.set_ylabel("probability")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
