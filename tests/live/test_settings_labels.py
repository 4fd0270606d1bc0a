"""A new hunter with other labels: the settings follow by name, and a model with its own
labels leaves the COCO detector."""

from __future__ import annotations

import pytest

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import LabelSet, imagenet_classes
from chickensaviour.live.settings import HEN, HOG, PipelineSettings, adapt_to_labels

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


def test_back_to_imagenet_keeps_names_and_the_same_labels_change_nothing() -> None:
    farm_settings = PipelineSettings(protected=(0,), target=1, detector="cam")
    adapted, _ = adapt_to_labels(farm_settings, FARM, imagenet_classes())
    assert adapted.protected == (0,) and adapted.target == 1  # no names in common
    again, notes = adapt_to_labels(PipelineSettings(), imagenet_classes(), imagenet_classes())
    assert again == PipelineSettings() and notes == []
    hen_hog = PipelineSettings(protected=(HEN,), target=HOG, detector="cam")
    farm, _ = adapt_to_labels(hen_hog, imagenet_classes(), LabelSet(("hen", "hog")))
    assert farm.protected == (0,) and farm.target == 1
