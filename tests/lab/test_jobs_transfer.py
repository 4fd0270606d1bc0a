"""Lab jobs and the transfer / defend / ensemble functions on tiny seeded models."""

from __future__ import annotations

import numpy as np
import pytest

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.lab import LabJob, run_defend, run_ensemble, run_job, run_transfer
from chickensaviour.lab.jobs import GroupMisclassification, class_groups, group_bounds
from chickensaviour.lab.report import heatmap_png, transfer_csv
from chickensaviour.lab.transfer import seed_table
from tests.lab.fixtures import TINY_A, TINY_B, tiny_images

EPS = (8 / 255, 32 / 255)


@pytest.fixture(scope="module")
def transfer():
    return run_transfer(tiny_images(), (TINY_A, TINY_B), ("fgsm", "pgd"), EPS, steps=3,
                        batch_size=4)


def test_job_is_deterministic_and_consistent() -> None:
    job = LabJob(kind="transfer", source=TINY_A, attack="pgd", epsilons=EPS,
                 indices=(0, 1, 2), targets=(TINY_A, TINY_B), seed=5, steps=3)
    first, second = run_job(job, tiny_images()), run_job(job, tiny_images())
    assert first.adv_pred.shape == first.success.shape == (2, 2, 3)
    np.testing.assert_array_equal(first.adv_pred, second.adv_pred)
    np.testing.assert_array_equal(first.adv_conf, second.adv_conf)
    # untargeted success is exactly "top-1 left the clean class's group"
    for e in range(2):
        for t in range(2):
            for n in range(3):
                moved = class_groups(first.adv_pred[e, t, n]) != class_groups(
                    first.clean_pred[t, n])
                assert first.success[e, t, n] == moved
    np.testing.assert_array_equal(first.label, first.clean_pred[0])  # source == targets[0]


def test_job_rejects_bad_settings() -> None:
    with pytest.raises(ChickenSaviourError):
        LabJob(kind="nope", source=TINY_A, attack="fgsm", epsilons=EPS, indices=(0,),
               targets=(TINY_A,))
    with pytest.raises(ChickenSaviourError):
        LabJob(kind="transfer", source=TINY_A, attack="fgsm", epsilons=(0.0,), indices=(0,),
               targets=(TINY_A,))
    job = LabJob(kind="transfer", source=TINY_A, attack="fgsm", epsilons=EPS, indices=(9,),
                 targets=(TINY_A,))
    with pytest.raises(ChickenSaviourError, match="outside"):
        run_job(job, tiny_images())
    with pytest.raises(ChickenSaviourError, match="uint8"):
        run_job(job, [np.zeros((4, 4, 3), dtype=np.float32)])


def test_group_goal_leaves_the_whole_group() -> None:
    import torch

    bounds = torch.as_tensor(group_bounds(np.array([282, 5])))
    assert bounds.tolist() == [[281, 285], [5, 5]]
    logits = torch.zeros(2, 1000)
    logits[0, 283] = 5.0  # a sibling cat: not a success
    logits[1, 6] = 5.0
    goal = GroupMisclassification(bounds)
    assert goal.is_success(logits).tolist() == [False, True]
    assert float(goal.objective(logits)) > 0


def test_transfer_result(transfer) -> None:
    assert transfer.success.shape == (2, 2, 2, 2, 6)
    assert transfer.counted.any()
    rates = transfer.rates("pgd", 1)
    assert rates.shape == (2, 2) and np.all((rates >= 0) & (rates <= 1))
    assert transfer.rates("pgd", 1)[0, 0] >= transfer.rates("fgsm", 0)[0, 0] - 1e-9
    data = transfer.to_json()
    assert list(data) == ["models", "attacks", "eps", "success"]
    assert data["eps"] == [8, 32]
    assert set(data["success"]) == {"fgsm", "pgd"}
    assert set(data["success"]["fgsm"]) == {"8", "32"}
    assert np.array(data["success"]["pgd"]["32"]).shape == (2, 2)
    rows = seed_table(transfer, int(np.flatnonzero(transfer.counted)[0]), TINY_A, "pgd", 1)
    assert [r.model for r in rows] == [TINY_A, TINY_B]
    assert rows[0].clean_name.startswith("class ")
    csv_text = transfer_csv(transfer)
    assert csv_text.count("\n") == 1 + 2 * 2 * 2 * 2
    assert heatmap_png(rates, transfer.models, "t")[:8] == b"\x89PNG\r\n\x1a\n"


def test_transfer_targeted_counts_only_other_classes() -> None:
    images = tiny_images()
    clean = run_transfer(images, (TINY_A,), ("fgsm",), (8 / 255,)).clean_pred[0]
    target = int(clean[0])
    result = run_transfer(images, (TINY_A, TINY_B), ("pgd",), (32 / 255,),
                          target_class=target, steps=5)
    assert not result.counted[clean == target].any()
    assert np.array_equal(result.success, result.adv_pred == target)


def test_transfer_rejects_duplicates() -> None:
    with pytest.raises(ChickenSaviourError, match="twice"):
        run_transfer(tiny_images(), (TINY_A, TINY_A), ("fgsm",), EPS)


def test_defend_rows_and_schema() -> None:
    result = run_defend(tiny_images(4), TINY_A, [("blur", "blur:1.5"), ("bits", "bits:4")],
                        "pgd", (16 / 255,), steps=3)
    assert list(result.scores) == ["none", "blur", "bits"]
    none = result.scores["none"]
    assert none.clean_accuracy == 1.0
    assert none.naive_success == none.adaptive_success  # nothing to adapt to
    data = result.to_json()
    assert set(data) == {"model", "attack", "eps", "defences"} and data["eps"] == 16
    for row in data["defences"].values():
        assert set(row) == {"clean_accuracy", "naive_success", "adaptive_success"}


def test_defend_targeted_counts_answers_of_the_target() -> None:
    """Targeted (the seed's king penguin -> megalith): success is the defended model
    answering the target; images already of the target class are not counted."""
    images = tiny_images(4)

    def expected(target: int) -> tuple[float, float]:
        """The defended row recomputed from a job's raw predictions."""
        raw = run_job(LabJob(kind="defend", source=TINY_A, attack="pgd",
                             epsilons=(32 / 255,), indices=(0, 1, 2, 3), defence="bits:4",
                             steps=5, target_class=target), images)
        counted = ((class_groups(raw.clean_pred) == class_groups(raw.label))
                   & (raw.label != target) & (raw.clean_pred != target))
        if not counted.any():
            return float("nan"), float("nan")
        return (float(np.mean(raw.naive_pred[0][counted] == target)),
                float(np.mean(raw.adaptive_pred[0][counted] == target)))

    plain = run_job(LabJob(kind="defend", source=TINY_A, attack="pgd", epsilons=(32 / 255,),
                           indices=(0, 1, 2, 3), steps=5), images)
    reached = [int(c) for c in plain.naive_pred[0] if c not in plain.label]
    labels = [int(c) for c in plain.label]
    assert reached, "the untargeted attack moves some image to a new class"
    for target in (reached[0], labels[1]):  # the second: some images are that class already
        result = run_defend(images, TINY_A, [("bits", "bits:4")], "pgd", (32 / 255,),
                            steps=5, target_class=target)
        assert result.target_class == target
        naive, adaptive = expected(target)
        row = result.scores["bits"]
        assert row.naive_success[0] == pytest.approx(naive, nan_ok=True)
        assert row.adaptive_success[0] == pytest.approx(adaptive, nan_ok=True)
        if target == reached[0]:
            assert result.scores["none"].naive_success[0] > 0  # the target is reachable


def test_ensemble_roles() -> None:
    result = run_ensemble(tiny_images(4), (TINY_A, TINY_B), (), attack="pgd",
                          epsilons=(32 / 255,), steps=5)
    assert set(result.success) == {"members", "ensemble", "held_out"}
    assert list(result.success["ensemble"]) == [f"{TINY_A}+{TINY_B}"]
    assert result.counted >= 1
    assert all(0.0 <= r[0] <= 1.0 for r in result.success["members"].values())
    with pytest.raises(ChickenSaviourError):
        run_ensemble(tiny_images(4), (TINY_A,), (TINY_B,))


def test_a_random_defence_draws_the_same_on_every_run() -> None:
    """resize is random: the job's seed makes its draws, so a run repeats exactly (and
    a Ray worker draws what the local runner drew)."""
    runs = [run_defend(tiny_images(4), TINY_A, [("resize", "resize:0.5-0.9")], "fgsm",
                       (8 / 255,)) for _ in range(2)]
    assert runs[0].scores == runs[1].scores
    job = LabJob(kind="defend", source=TINY_A, attack="fgsm", epsilons=(8 / 255,),
                 indices=(0, 1, 2, 3), defence="resize:0.5-0.9")
    first, second = run_job(job, tiny_images(4)), run_job(job, tiny_images(4))
    assert (first.clean_pred == second.clean_pred).all()
    assert (first.naive_pred == second.naive_pred).all()

