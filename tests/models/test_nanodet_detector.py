"""NanoDet: parity with the original TF.js graph, real photos, letterboxing, gradients."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from chickensaviour.assets import sample
from chickensaviour.coco import COCO_CLASSES, coco_for_imagenet, coco_index
from chickensaviour.errors import ChickenSaviourError, UnknownClassError
from chickensaviour.imaging import bgr_to_tensor
from chickensaviour.models.detections import box_iou
from chickensaviour.models.nanodet.detector import (
    NanoDetDetector,
    decode_boxes,
    letterbox,
    plan_letterbox,
)

REFERENCE = Path(__file__).parent / "data" / "nanodet_tfjs_reference.npz"
PHOTOS = ("astronaut", "coffee", "chelsea")
# Stated tolerances against the TF.js CPU backend (float32 both sides; measured max
# differences are 1.3e-6 for probabilities and 2e-5 for box logits).
SCORE_TOLERANCE = 1e-4
LOGIT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return dict(data)


def reference_input(reference: dict[str, np.ndarray], name: str) -> np.ndarray:
    return cv2.imdecode(reference[f"{name}_image_png"], cv2.IMREAD_COLOR)


def skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    if name == "chelsea":
        return cv2.imread(str(sample("chelsea.png")))
    return cv2.cvtColor(getattr(skimage.data, name)(), cv2.COLOR_RGB2BGR)


@pytest.mark.pretrained
@pytest.mark.parametrize("name", PHOTOS)
def test_raw_outputs_match_the_tfjs_graph(nanodet: NanoDetDetector, reference, name: str):
    image = reference_input(reference, name)  # 416 x 416: the letterbox is the identity
    with torch.no_grad():
        scores, _, plan = nanodet.forward(bgr_to_tensor(image))
    assert (plan.input_width, plan.input_height, plan.resized_width) == (416, 416, 416)
    x = nanodet.normalize(bgr_to_tensor(image))
    with torch.no_grad():
        scores, logits = nanodet.net(x)
    scores, logits = scores[0].numpy(), logits[0].numpy()
    anchors = reference[f"{name}_anchors"]
    assert scores.shape == (2704 + 676 + 169, 80) and logits.shape == (3549, 44)
    np.testing.assert_allclose(scores.max(axis=1), reference[f"{name}_best"],
                               atol=SCORE_TOLERANCE, rtol=0)
    np.testing.assert_allclose(scores[anchors], reference[f"{name}_scores"],
                               atol=SCORE_TOLERANCE, rtol=0)
    np.testing.assert_allclose(logits[anchors], reference[f"{name}_boxes"],
                               atol=LOGIT_TOLERANCE, rtol=0)


@pytest.mark.pretrained
@pytest.mark.parametrize("name", PHOTOS)
def test_detections_match_the_tfjs_decoding(reference, name: str):
    """Decoded, NMS'd boxes agree with the same decoding done with TF.js ops (softmax,
    tf.image.nonMaxSuppression) on the TF.js outputs: the same recipe (NanoDet's GFL head),
    an independent implementation."""
    detector = NanoDetDetector(device="cpu", score_threshold=0.05, square=True)
    found = detector.detect(bgr_to_tensor(reference_input(reference, name)))
    expected_xyxy = reference[f"{name}_det_xyxy"]
    expected_score = reference[f"{name}_det_score"]
    expected_class = reference[f"{name}_det_class"]
    strong = expected_score > 0.1
    assert strong.sum() >= 2
    for box, score, cls in zip(expected_xyxy[strong], expected_score[strong],
                               expected_class[strong], strict=True):
        same = np.flatnonzero(found.class_id == cls)
        assert same.size, f"no {COCO_CLASSES[cls]} detected; TF.js found one at {box}"
        iou = box_iou(box[None], found.xyxy[same])[0]
        best = same[iou.argmax()]
        assert iou.max() > 0.999, (COCO_CLASSES[cls], box, found.xyxy[same])
        assert abs(found.confidence[best] - score) < SCORE_TOLERANCE
        assert np.abs(found.xyxy[best] - box).max() < 0.05  # pixels


@pytest.mark.parametrize("name", PHOTOS)
def test_letterbox_matches_opencv_resize_and_black_padding(reference, name: str):
    photo = skimage_photo(name)
    plan = plan_letterbox(photo.shape[1], photo.shape[0], 416, square=True)
    ours = letterbox(bgr_to_tensor(photo), plan)[0].permute(1, 2, 0).flip(-1)
    ours = (ours * 255).round().to(torch.uint8).numpy().astype(int)
    difference = np.abs(ours - reference_input(reference, name))
    assert difference.max() <= 1 and difference.mean() < 0.2


@pytest.mark.pretrained
@pytest.mark.parametrize(("name", "expected", "least"),
                         [("astronaut", "person", 0.6), ("chelsea", "cat", 0.5),
                          ("coffee", "cup", 0.25)])
def test_finds_the_object_in_real_photos(nanodet: NanoDetDetector, name, expected, least):
    photo = skimage_photo(name)
    found = nanodet.detect(bgr_to_tensor(photo))
    hits = found[found.class_id == coco_index(expected)]
    assert len(hits) >= 1 and hits.confidence.max() >= least, found
    height, width = photo.shape[:2]
    assert (hits.xyxy[:, [0, 2]] <= width).all() and (hits.xyxy[:, [1, 3]] <= height).all()


@pytest.mark.pretrained
def test_boxes_come_back_in_frame_pixels_for_any_aspect_ratio(nanodet: NanoDetDetector):
    photo = skimage_photo("astronaut")  # 512 x 512; the astronaut fills the left half
    wide = cv2.copyMakeBorder(photo, 0, 0, 300, 0, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    person = coco_index("person")
    square = nanodet.detect(bgr_to_tensor(photo))
    shifted = nanodet.detect(bgr_to_tensor(wide))
    a = square[square.class_id == person].xyxy[0]
    b = shifted[shifted.class_id == person].xyxy[0] - np.array([300, 0, 300, 0])
    assert box_iou(a[None], b[None])[0, 0] > 0.85


@pytest.mark.pretrained
def test_class_scores_are_differentiable_with_respect_to_the_frame(nanodet: NanoDetDetector):
    frame = bgr_to_tensor(skimage_photo("chelsea")).requires_grad_(True)
    score = nanodet.class_scores(frame, [coco_index("cat")]).max()
    score.backward()
    assert frame.grad is not None and torch.isfinite(frame.grad).all()
    assert frame.grad.abs().sum() > 0


@pytest.mark.pretrained
def test_scores_and_anchor_points_agree_with_the_full_forward_pass(nanodet: NanoDetDetector):
    """The protocol's scoring is the network's own: the same numbers as ``forward`` and,
    for every anchor, a point inside the frame where its cell centre lands."""
    frame = bgr_to_tensor(skimage_photo("chelsea"))  # 451 x 300: letterboxed with bars
    cat = coco_index("cat")
    scores, _, _ = nanodet.forward(frame)
    assert torch.allclose(nanodet.class_scores(frame, [cat]), scores[..., cat], atol=1e-6)
    points = nanodet.anchor_points(frame.shape[-1], frame.shape[-2])
    assert points.shape == (scores.shape[1], 2)
    assert float(points[:, 0].max()) <= frame.shape[-1] and float(points[:, 1].min()) >= 0
    strongest = int(scores[0, :, cat].argmax())
    box = nanodet.detect(frame).xyxy[0]
    x, y = points[strongest].tolist()
    assert box[0] <= x <= box[2] and box[1] <= y <= box[3]
    moved = nanodet.at_size(320)
    assert moved.net is nanodet.net and moved.input_size == 320 and nanodet.input_size == 416


def test_decoded_boxes_follow_the_distribution_expectation():
    # One anchor per level would be wasteful: use the real layout of a 64 x 32 input.
    n = (8 * 4) + (4 * 2) + (2 * 1)
    logits = torch.full((1, n, 44), -1e4)
    logits[0, :, 2] = 0.0  # every side: all mass on bin 2 -> distance 2 strides
    logits[0, :, 11 + 2] = 0.0
    logits[0, :, 22 + 2] = 0.0
    logits[0, :, 33 + 2] = 0.0
    boxes = decode_boxes(logits, 64, 32)[0]
    # First anchor: stride 8, centre (4, 4): box (4-16, 4-16, 4+16, 4+16) clipped.
    assert boxes[0].tolist() == [0.0, 0.0, 20.0, 20.0]
    # Last anchor: stride 32, centre (48, 16): (48-64, 16-64, 48+64, 16+64) clipped.
    assert boxes[-1].tolist() == [0.0, 0.0, 64.0, 32.0]


def test_letterbox_plan_pads_only_to_a_multiple_of_32():
    plan = plan_letterbox(640, 480)
    assert (plan.input_width, plan.input_height) == (416, 320)
    assert (plan.resized_width, plan.resized_height) == (416, 312) and plan.top == 4
    boxes = torch.tensor([[plan.left + 0.0, plan.top + 0.0, 416.0, 316.0]])
    assert torch.allclose(plan.to_frame(boxes), torch.tensor([[0.0, 0.0, 640.0, 480.0]]))
    with pytest.raises(ChickenSaviourError, match="multiple of 32"):
        plan_letterbox(640, 480, 400)


def test_bad_detector_settings_are_refused():
    with pytest.raises(ChickenSaviourError, match=r"0\.\.79"):
        NanoDetDetector([80], device="cpu")
    with pytest.raises(ChickenSaviourError, match="thresholds"):
        NanoDetDetector(score_threshold=1.5, device="cpu")


def test_coco_lookup_and_imagenet_mapping():
    assert coco_index("person") == 0 and coco_index("Chicken") == 14 and coco_index(15) == 15
    assert coco_for_imagenet([8, 7]) == (14,)  # hen, cock -> bird
    assert coco_for_imagenet([281, 285, 207]) == (15, 16)  # tabby, Egyptian cat, retriever
    assert coco_for_imagenet([341]) == ()  # hog: no COCO class
    with pytest.raises(UnknownClassError, match="knows"):
        coco_index("unicorn")
