"""Hide patches: placement, differentiability, training against the real NanoDet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chickensaviour.attacks.hide import (
    HideSettings,
    Scene,
    hide_rates,
    make_hide_patch,
    max_class_score,
    paste,
    scenes_from_frames,
    total_variation,
)
from chickensaviour.coco import coco_index
from chickensaviour.errors import ChickenSaviourError, OperationCancelled
from chickensaviour.imaging import tensor_to_bgr
from chickensaviour.models.nanodet.detector import NanoDetDetector
from tests.conftest import SAMPLES

PLAIN = HideSettings()


def test_plain_paste_puts_the_patch_at_the_box_centre_at_its_scale():
    images = torch.zeros(1, 3, 200, 300)
    patch = torch.ones(3, 16, 16)
    box = torch.tensor([[100.0, 50.0, 200.0, 150.0]])  # 100 x 100, centre (150, 100)
    out = paste(images, patch, [box], PLAIN)[0]
    covered = out[0] > 0.5
    ys, xs = torch.nonzero(covered, as_tuple=True)
    side = PLAIN.scale * 100  # 45 px
    assert abs((xs.max() - xs.min() + 1) - side) <= 2 and abs((ys.max() - ys.min() + 1) - side) <= 2
    assert abs(xs.float().mean() - 149.5) < 1 and abs(ys.float().mean() - 99.5) < 1
    assert out[:, :40].abs().sum() == 0  # nothing outside the patch changes


def test_paste_covers_every_box_of_every_image_and_is_differentiable():
    images = torch.zeros(2, 3, 64, 64)
    patch = torch.full((3, 8, 8), 0.5, requires_grad=True)
    boxes = [torch.tensor([[0.0, 0.0, 32.0, 32.0], [32.0, 32.0, 64.0, 64.0]]),
             torch.tensor([[16.0, 16.0, 48.0, 48.0]])]
    out = paste(images, patch, boxes, PLAIN)
    assert out[0, :, :32, :32].sum() > 0 and out[0, :, 32:, 32:].sum() > 0
    assert out[1, :, 16:48, 16:48].sum() > 0 and out[1, :, :8, :8].sum() == 0
    out.sum().backward()
    assert patch.grad is not None and patch.grad.abs().sum() > 0


def test_total_variation_is_zero_for_a_flat_patch_and_positive_otherwise():
    assert total_variation(torch.full((3, 8, 8), 0.3)) == 0
    assert total_variation(torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))) > 0


def test_bad_settings_and_empty_training_sets_are_refused():
    with pytest.raises(ChickenSaviourError, match="scale"):
        HideSettings(scale=3.0)
    with pytest.raises(ChickenSaviourError, match="steps"):
        HideSettings(steps=0)


@pytest.fixture(scope="module")
def person_scenes(nanodet: NanoDetDetector) -> list[Scene]:
    from chickensaviour.imaging import read_image

    photo = tensor_to_bgr(read_image(SAMPLES / "astronaut.png"))
    canvas = np.full((512, 512, 3), 120, dtype=np.uint8)
    small = photo[::2, ::2]
    canvas[200:456, 40:296] = small  # the same person, smaller, elsewhere
    return scenes_from_frames(nanodet, [photo, canvas], [coco_index("person")], size=320)


@pytest.mark.pretrained
def test_scenes_hold_the_detected_people_in_input_pixels(person_scenes: list[Scene]):
    assert len(person_scenes) == 2
    for scene in person_scenes:
        assert scene.image.shape == (3, 320, 320)
        x1, y1, x2, y2 = scene.boxes[0].tolist()
        assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 320 and (x2 - x1) * (y2 - y1) > 1000


@pytest.mark.pretrained
def test_training_lowers_the_person_score_below_a_noise_patch(nanodet: NanoDetDetector,
                                                              person_scenes: list[Scene]):
    person = [coco_index("person")]
    settings = HideSettings(steps=25, batch=2, lr=0.05, scale=0.6)
    patch = make_hide_patch(nanodet, person_scenes, person, size=48, settings=settings)
    assert patch.shape == (1, 3, 48, 48) and 0 <= patch.min() and patch.max() <= 1
    images = torch.stack([s.image for s in person_scenes])
    boxes = [s.boxes for s in person_scenes]
    noise = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        clean = max_class_score(nanodet, images, person)
        hidden = max_class_score(nanodet, paste(images, patch[0], boxes, settings), person)
        noisy = max_class_score(nanodet, paste(images, noise, boxes, settings), person)
    assert (hidden < noisy).all() and (hidden < clean).all(), (clean, noisy, hidden)
    report = hide_rates(nanodet, person_scenes, patch, person, settings=settings)
    assert report.objects == 2 and report.clean == 2
    assert report.with_patch <= report.with_random_patch


def test_training_can_be_cancelled_and_needs_scenes():
    detector = NanoDetDetector(device="cpu", net=_untrained_nanodet())
    scene = Scene(torch.rand(3, 64, 64), torch.tensor([[8.0, 8.0, 56.0, 56.0]]))
    with pytest.raises(OperationCancelled):
        make_hide_patch(detector, [scene], [0], size=16, should_stop=lambda: True)
    with pytest.raises(ChickenSaviourError, match="nothing to train on"):
        make_hide_patch(detector, [], [0], size=16)


def _untrained_nanodet():
    from chickensaviour.models.nanodet.net import NanoDet

    torch.manual_seed(0)
    return NanoDet().eval().requires_grad_(False)


class BrightSpotDetector:
    """A detector that is not NanoDet: one "object" class scored per 8x8 cell by the
    cell's brightness. It offers only the DifferentiableDetector protocol."""

    def __init__(self, input_size: int = 64, score_threshold: float = 0.5) -> None:
        self.device = torch.device("cpu")
        self.input_size = input_size
        self.score_threshold = score_threshold

    def class_scores(self, frames: torch.Tensor, classes) -> torch.Tensor:
        assert list(classes) == [0]
        cells = torch.nn.functional.avg_pool2d(frames.mean(dim=1, keepdim=True), 8)
        return torch.sigmoid((cells.flatten(1) - 0.5) * 20)

    def anchor_points(self, width: int, height: int) -> torch.Tensor:
        ys, xs = torch.meshgrid(torch.arange(height // 8) * 8 + 4.0,
                                torch.arange(width // 8) * 8 + 4.0, indexing="ij")
        return torch.stack([xs.flatten(), ys.flatten()], dim=1)

    def detect_batch(self, frames: torch.Tensor):
        from chickensaviour.models.detections import Detections

        found = []
        for scores in self.class_scores(frames, [0]):
            hot = scores > self.score_threshold
            if not hot.any():
                found.append(Detections.empty())
                continue
            points = self.anchor_points(frames.shape[-1], frames.shape[-2])[hot]
            box = np.array([[*(points.min(0).values - 4), *(points.max(0).values + 4)]])
            found.append(Detections(box.astype(np.float32),
                                    np.array([float(scores.max())], np.float32),
                                    np.zeros(1, np.int64)))
        return found

    def detect(self, frame: torch.Tensor):
        return self.detect_batch(frame)[0]

    def at_size(self, size: int, *, square: bool = True, threshold: float | None = None):
        return BrightSpotDetector(size, self.score_threshold if threshold is None else threshold)


def test_the_hide_attack_needs_only_the_differentiable_detector_protocol(
        nanodet: NanoDetDetector):
    """Any detector with differentiable class scores can be fooled: the attack never
    reaches into a network or its normalisation."""
    from chickensaviour.models.protocols import DifferentiableDetector

    detector = BrightSpotDetector()
    assert isinstance(detector, DifferentiableDetector)
    assert isinstance(nanodet, DifferentiableDetector)
    image = torch.zeros(3, 64, 64)
    image[:, 16:48, 16:48] = 0.9  # a bright square object
    scene = Scene(image, torch.tensor([[16.0, 16.0, 48.0, 48.0]]))
    settings = HideSettings(steps=60, scale=0.9, rotation_degrees=0, shift=0, noise=0,
                            tv_weight=0.0, lr=0.1)
    grey = torch.full((1, 3, 16, 16), 0.5)
    before = max_class_score(detector, paste(image[None], grey[0], [scene.boxes], settings),
                             [0], [scene.boxes])
    patch = make_hide_patch(detector, [scene], [0], size=16, settings=settings)
    after = max_class_score(detector, paste(image[None], patch[0], [scene.boxes], settings),
                            [0], [scene.boxes])
    assert float(after) < 0.5 < float(before)
    report = hide_rates(detector, [scene], patch, [0], settings=settings)
    assert report.clean == 1 and report.with_patch == 0
