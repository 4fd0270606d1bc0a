from __future__ import annotations

import pytest
import torch

from chickensaviour.attacks.patch.evaluate import evaluate_classifier_patch
from chickensaviour.attacks.patch.objectives import ClassifierDecoy
from chickensaviour.attacks.patch.placement import PatchSize, paste
from chickensaviour.attacks.patch.scenes import SceneSet
from chickensaviour.attacks.patch.trainer import PatchTraining, train_patch
from chickensaviour.errors import ChickenSaviourError, OperationCancelled
from chickensaviour.labels import IMAGENET, LabelSet
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.transforms.print_camera import PrintCameraRanges


def _colour_model() -> ImageClassifier:
    """Four classes read from the mean colour: red, green, blue and dark. A patch that
    raises "red" must turn red where it lies; easy to check by eye and by numbers."""
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(3, 4))
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[2.0, -1, -1], [-1, 2, -1], [-1, -1, 2],
                                          [-1.5, -1.5, -1.5]]))
        net[2].bias.zero_()
    classes = LabelSet(("red", "green", "blue", "dark"), kind=IMAGENET)
    model = ImageClassifier(net, name="colour", input_size=16, mean=(0.5, 0.5, 0.5),
                            std=(0.25, 0.25, 0.25), fit="stretch", classes=classes)  # type: ignore[arg-type]
    return model.eval()


def _scenes(count: int = 6, size: int = 32, seed: int = 0) -> SceneSet:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(count, 3, size, size, generator=generator)
    boxes = [torch.tensor([[4.0, 4.0, size - 4.0, size - 4.0]]) for _ in range(count)]
    return SceneSet(images, boxes)


def _target_probability(model: ImageClassifier, patch: torch.Tensor, scenes: SceneSet,
                        target: int) -> float:
    views = torch.cat([paste(b, patch, PatchSize(0.5)) for b in scenes.batches(8)])
    return float(model.with_fit("stretch").probabilities(views)[:, target].mean())


@pytest.mark.parametrize("optimiser", ["adam", "sign"])
@pytest.mark.parametrize("simulation", ["none", "full"])
def test_trainer_raises_the_target_on_a_tiny_model(optimiser: str, simulation: str) -> None:
    model = _colour_model()
    scenes = _scenes()
    start = torch.full((1, 3, 12, 12), 0.5)
    training = PatchTraining(steps=30, batch=4, optimiser=optimiser, lr=0.05,  # type: ignore[arg-type]
                             simulation=getattr(PrintCameraRanges, simulation)(), seed=0)
    trained = train_patch(start, scenes, ClassifierDecoy(model, 0), training)
    assert trained.patch.shape == start.shape
    assert float(trained.patch.min()) >= 0 and float(trained.patch.max()) <= 1
    assert len(trained.losses) == 30
    before = _target_probability(model, start, scenes, 0)
    after = _target_probability(model, trained.patch, scenes, 0)
    assert after > before + 0.1
    red, green, blue = trained.patch.mean(dim=(0, 2, 3)).tolist()
    assert red > 0.9 and red - green > 0.5 and red - blue > 0.5


def test_trainer_is_deterministic_under_the_full_simulation(tiny_model: ImageClassifier) -> None:
    scenes = _scenes()
    training = PatchTraining(steps=4, batch=3, printability=0.1, smoothness=0.1, seed=7)
    start = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    first = train_patch(start, scenes, ClassifierDecoy(tiny_model, 2), training)
    second = train_patch(start, scenes, ClassifierDecoy(tiny_model, 2), training)
    assert torch.equal(first.patch, second.patch)
    assert first.losses == second.losses
    assert not torch.equal(first.patch, start)


def test_untargeted_objective_needs_clean_labels_and_lowers_the_clean_class(
        tiny_model: ImageClassifier) -> None:
    scenes = _scenes()
    with pytest.raises(ChickenSaviourError, match="clean class"):
        train_patch(torch.zeros(1, 3, 12, 12), scenes, ClassifierDecoy(tiny_model, None),
                    PatchTraining(steps=1, simulation=PrintCameraRanges.none()))
    judge = tiny_model.with_fit("stretch")
    labelled = scenes.with_labels(judge.probabilities(scenes.images).argmax(dim=1))
    start = torch.full((1, 3, 12, 12), 0.5)
    trained = train_patch(start, labelled, ClassifierDecoy(tiny_model, None),
                          PatchTraining(steps=20, batch=4, lr=0.05,
                                        simulation=PrintCameraRanges.none()))
    assert trained.losses[-1] < trained.losses[0]


def test_progress_and_cancel(tiny_model: ImageClassifier) -> None:
    seen: list[int] = []
    train_patch(torch.zeros(1, 3, 12, 12), _scenes(), ClassifierDecoy(tiny_model, 1),
                PatchTraining(steps=3, simulation=PrintCameraRanges.none()),
                progress=lambda done, total, value: seen.append(done))
    assert seen == [1, 2, 3]
    with pytest.raises(OperationCancelled):
        train_patch(torch.zeros(1, 3, 12, 12), _scenes(), ClassifierDecoy(tiny_model, 1),
                    should_stop=lambda: True)


def test_bad_inputs_are_refused(tiny_model: ImageClassifier) -> None:
    objective = ClassifierDecoy(tiny_model, 1)
    with pytest.raises(ChickenSaviourError, match="patch"):
        train_patch(torch.zeros(3, 12, 12), _scenes(), objective)
    with pytest.raises(ChickenSaviourError, match="out of range"):
        ClassifierDecoy(tiny_model, 99)
    with pytest.raises(ChickenSaviourError, match="optimiser"):
        PatchTraining(optimiser="sgd")  # type: ignore[arg-type]
    with pytest.raises(ChickenSaviourError, match="box"):
        SceneSet(torch.rand(2, 3, 8, 8), [torch.zeros(0, 4), torch.zeros(1, 4)])


def test_evaluation_uses_the_same_draws_for_patch_and_baselines(
        tiny_model: ImageClassifier) -> None:
    scenes = _scenes()
    judge = tiny_model.with_fit("stretch")
    labelled = scenes.with_labels(judge.probabilities(scenes.images).argmax(dim=1))
    grey = torch.full((1, 3, 12, 12), 0.5)
    report = evaluate_classifier_patch(tiny_model, grey, labelled, target=3,
                                       size=PatchSize(0.5), simulation=PrintCameraRanges.full(),
                                       placements=2, examples=4)
    assert report.patch.trials == 12 and len(report.examples) == 4
    # The grey baseline is the same square with the same draws: the same rates exactly.
    assert report.patch == report.baselines["grey"]


def test_training_writes_no_gradient_into_the_model() -> None:
    """The hunter may serve another thread: the trainer only reads it, even when its
    parameters still require gradients."""
    model = _colour_model()
    assert all(p.requires_grad for p in model.parameters())
    train_patch(torch.full((1, 3, 12, 12), 0.5), _scenes(), ClassifierDecoy(model, 0),
                PatchTraining(steps=2, batch=2, simulation=PrintCameraRanges.none()))
    assert all(p.grad is None for p in model.parameters())
