"""A new hunter with other labels: the settings follow by name, and a model with its own
labels leaves the COCO detector."""

from __future__ import annotations

import pytest

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import LabelSet, imagenet_classes
from chickensaviour.live.settings import COCK, HEN, HOG, PipelineSettings, adapt_to_labels

FARM = LabelSet(("chicken", "fox", "hog", "background"))


def test_a_model_with_its_own_labels_gets_the_cam_detector_and_its_classes() -> None:
    settings = PipelineSettings(mode="hide")
    adapted, notes = adapt_to_labels(settings, imagenet_classes(), FARM)
    assert adapted.detector == "cam" and adapted.mode == "block"
    assert adapted.protected == (0,) and adapted.target == 2  # hog keeps its name
    assert any("cam detector" in note for note in notes)
    with pytest.raises(ChickenSaviourError, match="own 4 classes"):
        settings.check_detector(FARM)
    adapted.check_detector(FARM)  # cam is fine


def test_back_to_imagenet_finds_the_classes_by_name_and_brings_nanodet_back() -> None:
    """A card's "chicken" is ImageNet's hen and cock; with nothing in common the
    defaults (hen, cock; hog) return, never tench and goldfish."""
    imagenet = imagenet_classes()
    farm_settings = PipelineSettings(protected=(0,), target=1, detector="cam")
    adapted, notes = adapt_to_labels(farm_settings, FARM, imagenet)
    assert adapted.protected == (HEN, COCK) and adapted.target == HOG  # "fox" is not a class
    assert adapted.detector == "nanodet" and any("COCO detector is back" in n for n in notes)
    strangers = LabelSet(("widget", "gadget"))
    adapted, _ = adapt_to_labels(PipelineSettings(protected=(0,), target=1, detector="cam"),
                                 strangers, imagenet)
    assert adapted.protected == (HEN, COCK) and adapted.target == HOG


def test_hide_mode_with_own_labels_is_one_clear_refusal() -> None:
    hide = PipelineSettings(mode="hide")
    with pytest.raises(ChickenSaviourError, match="hide mode fools the NanoDet detector"):
        hide.check_detector(FARM)


def test_the_same_labels_change_nothing() -> None:
    again, notes = adapt_to_labels(PipelineSettings(), imagenet_classes(), imagenet_classes())
    assert again == PipelineSettings() and notes == []
    hen_hog = PipelineSettings(protected=(HEN,), target=HOG, detector="cam")
    farm, _ = adapt_to_labels(hen_hog, imagenet_classes(), LabelSet(("hen", "hog")))
    assert farm.protected == (0,) and farm.target == 1
