"""``PipelineSettings``: everything the user can change, as one immutable snapshot.

The GUI builds a new snapshot for every change and hands it to the inference thread;
nothing here is ever mutated, so the snapshot can cross threads freely.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from chickensaviour.coco import coco_for_imagenet
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.labels import LabelSet

Box = tuple[float, float, float, float]
DetectorName = Literal["nanodet", "cam"]
DETECTORS: tuple[DetectorName, ...] = ("nanodet", "cam")
Baseline = Literal["none", "grey", "noise"]
BASELINES: tuple[Baseline, ...] = ("none", "grey", "noise")
HEN, COCK, HOG = 8, 7, 341
#: Ghost mode's default number of iterative-FGSM steps per frame. Each tracked region
#: starts from its previous frame's perturbation (see ``live/modes/ghost.py``); a new
#: track starts from the clean frame, where one step is the seed's FGSM. Measured with
#: ``benchmarks/bench_ghost_steps.py`` on every second frame of the bundled clip (cats
#: protected, decoy hog, eps 8/255, 2 cores): hog top-1 after the attack in 73/75
#: regions with 1 step (66 ms a frame) on MobileNetV2, 75/75 with 5 steps from the clean
#: frame (224 ms, the old default), 0/75 with the seed's FGSM; on ResNet-50 64/75 (165
#: ms), 54/75 (699 ms) and 0/75.
GHOST_STEPS = 1
MAX_GHOST_STEPS = 20
#: Hide patch side / sqrt(region area); see ``PipelineSettings.hide_fraction``.
HIDE_FRACTION = 0.35


@dataclass(frozen=True)
class PipelineSettings:
    """Everything the user can change, as one immutable snapshot.

    Attributes:
        protected: classes of the hunter's labels it must not see (default: ImageNet's
            hen and cock).
        target: the decoy class blocks and ghosts push towards (default: ImageNet's hog).
        mode: the name of a registered mode (:mod:`chickensaviour.live.modes`): "block",
            "ghost", "hide", "off" or "printed".
        detector: what finds the regions: "nanodet" (COCO detector; the protected
            ImageNet classes are looked for as their COCO classes - hen and cock as
            bird) or "cam" (the hunter's own class activation maps).
        eps: ghost-mode budget in ``[0, 1]`` (the slider shows 1/255 units).
        ghost_steps: iterative-FGSM steps per frame within the budget, starting from
            the track's previous perturbation (from the clean frame, 1 step is the
            seed's FGSM).
        patch_fraction: block side as a fraction of the region's shorter side.
        hide_fraction: hide patch side as a fraction of the square root of the region's
            area. The default is one where the trained patch beats a plain square of the
            same size: on the bundled cat clip a grey square at 0.5 already "hides" the
            cat in 84% of frames, at 0.35 in 2% (the trained patch: 100%).
        alpha: block opacity.
        block_size: side of the block image in pixels, before scaling.
        detect_every: run the localiser every N frames, track in between.
        manual_boxes: regions drawn by hand (frame pixels), protected as they are.
        baseline: hide mode's honest comparison: "none" shows the trained patch,
            "grey" or "noise" a same-size plain patch in the same place instead.
    """

    protected: tuple[int, ...] = (HEN, COCK)
    target: int = HOG
    mode: str = "block"
    detector: DetectorName = "nanodet"
    eps: float = 8 / 255
    ghost_steps: int = GHOST_STEPS
    patch_fraction: float = 0.5
    hide_fraction: float = HIDE_FRACTION
    alpha: float = 1.0
    block_size: int = 64
    detect_every: int = 3
    manual_boxes: tuple[Box, ...] = ()
    baseline: Baseline = "none"

    def __post_init__(self) -> None:
        from chickensaviour.live.modes import mode_names  # the registry imports this module

        if not self.protected:
            raise ChickenSaviourError("choose at least one protected class")
        if self.mode not in mode_names():
            raise ChickenSaviourError(
                f"mode must be one of {', '.join(mode_names())}, got {self.mode!r}")
        if self.detector not in DETECTORS:
            raise ChickenSaviourError(
                f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.mode == "hide" and self.detector != "nanodet":
            raise ChickenSaviourError("hide mode fools the NanoDet detector: use detector "
                                      "nanodet with it")
        if self.baseline not in BASELINES:
            raise ChickenSaviourError(
                f"baseline must be one of {', '.join(BASELINES)}, got {self.baseline!r}")
        if not 0.0 <= self.eps <= 1.0:
            raise ChickenSaviourError(f"eps must be in [0, 1], got {self.eps}")
        if not 0.0 < self.patch_fraction <= 1.0:
            raise ChickenSaviourError(
                f"patch fraction must be in (0, 1], got {self.patch_fraction}")
        if not 0.0 < self.hide_fraction <= 1.0:
            raise ChickenSaviourError(
                f"hide patch fraction must be in (0, 1], got {self.hide_fraction}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ChickenSaviourError(f"alpha must be in [0, 1], got {self.alpha}")
        if not 8 <= self.block_size <= 512:
            raise ChickenSaviourError(f"block size must be in 8..512, got {self.block_size}")
        if self.detect_every < 1:
            raise ChickenSaviourError(f"detect_every must be >= 1, got {self.detect_every}")
        if not 1 <= self.ghost_steps <= MAX_GHOST_STEPS:
            raise ChickenSaviourError(
                f"ghost steps must be in 1..{MAX_GHOST_STEPS}, got {self.ghost_steps}")

    def with_changes(self, **changes: object) -> PipelineSettings:
        """A new snapshot with ``changes``; raises ChickenSaviourError on a bad value."""
        try:
            return replace(self, **changes)  # type: ignore[arg-type]
        except TypeError as exc:  # an unknown field name
            raise ChickenSaviourError(f"unknown setting: {exc}") from None

    def check_detector(self, labels: LabelSet) -> None:
        """Raise when NanoDet cannot look for the protected classes of a hunter with
        ``labels``: they are not ImageNet's (the COCO mapping is ImageNet's), or no COCO
        class covers them. The message suggests the cam detector."""
        if self.detector != "nanodet":
            return
        if not labels.is_imagenet and self.mode == "hide":
            raise ChickenSaviourError(
                "hide mode fools the NanoDet detector, whose COCO classes map to ImageNet "
                f"hunters' classes only; this model has its own {len(labels)} classes: use "
                "block or ghost mode with the cam detector")
        if not labels.is_imagenet:
            raise ChickenSaviourError(not_imagenet_error(labels))
        if not self.coco_classes:
            raise ChickenSaviourError(no_coco_class_error(self.protected, labels.names))

    @property
    def coco_classes(self) -> tuple[int, ...]:
        """The COCO classes the detector looks for (hen, cock -> bird)."""
        return coco_for_imagenet(self.protected)


def not_imagenet_error(labels: LabelSet) -> str:
    """The message for a hunter whose labels the COCO mapping does not know."""
    shown = ", ".join(labels.names[:4]) + (", ..." if len(labels) > 4 else "")
    return (f"the nanodet detector finds COCO objects for ImageNet classes only; this model "
            f"has its own {len(labels)} classes ({shown}): use the cam detector "
            "(--detector cam; in the app, boxes drawn by hand work too)")


def no_coco_class_error(protected: tuple[int, ...], classes: tuple[str, ...]) -> str:
    """The message for protected classes that NanoDet's COCO classes do not cover."""
    names = ", ".join(classes[i] for i in protected)
    return (f"no COCO class of the NanoDet detector covers {names}; use the cam detector "
            "(--detector cam) or protect e.g. person, bird, cat, dog")


def adapt_to_labels(settings: PipelineSettings, old: LabelSet,
                    new: LabelSet) -> tuple[PipelineSettings, list[str]]:
    """The settings for a new hunter whose classes are ``new`` (they were ``old``), and
    what changed, for the status bar.

    Protected classes and the decoy keep their names where ``new`` has them (for
    ImageNet, everyday words count: "chicken" is hen and cock); otherwise the first class
    (ImageNet: hen, cock) is protected and the next one (ImageNet: hog) becomes the decoy.
    A hunter with its own labels cannot use NanoDet (its COCO mapping is ImageNet's): the
    cam detector takes over, and hide mode (which fools NanoDet) gives way to block mode;
    back on ImageNet, NanoDet returns.
    """
    if new == old:
        return settings, []
    notes: list[str] = []
    protected = _same_classes([old.names[i] for i in settings.protected], new)
    if not protected:
        protected = (HEN, COCK) if new.is_imagenet else (0,)
        shown = ", ".join(new.names[i] for i in protected)
        notes.append(f"protecting {shown} (choose others under Classes)")
    targets = [i for i in _same_classes([old.names[settings.target]], new)
               if i not in protected]
    if targets:
        target = targets[0]
    else:
        target = (HOG if new.is_imagenet and HOG not in protected
                  else next((i for i in range(len(new)) if i not in protected), 0))
        notes.append(f"decoy is now {new.names[target]}")
    changes: dict[str, object] = {"protected": protected, "target": target}
    if not new.is_imagenet and settings.detector == "nanodet":
        changes["detector"] = "cam"
        if settings.mode == "hide":
            changes["mode"] = "block"
        notes.append("the COCO detector's classes map to ImageNet labels only: using the cam "
                     "detector (or drag boxes on the before pane)")
    elif new.is_imagenet and not old.is_imagenet and settings.detector == "cam" \
            and coco_for_imagenet(protected):
        changes["detector"] = "nanodet"
        notes.append("ImageNet labels again: the COCO detector is back")
    return settings.with_changes(**changes), notes


def _same_classes(names: list[str], labels: LabelSet) -> tuple[int, ...]:
    """The classes of ``labels`` that ``names`` mean (exact names; for a label set with
    everyday words, those too), in order, without repeats."""
    found: list[int] = []
    for name in names:
        if name in labels.names:
            matches = [labels.names.index(name)]
        elif name.lower() in labels.common_words:
            matches = [labels.names.index(n) for n in labels.common_words[name.lower()]
                       if n in labels.names]
        else:
            matches = []
        found.extend(i for i in matches if i not in found)
    return tuple(found)
