"""What ``chickensaviour render`` counts over a clip, and the summary it prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from chickensaviour.labels import LabelSet
from chickensaviour.live import FrameResult, HideTally, PipelineSettings
from chickensaviour.live.modes.hide import detector_verdicts


@dataclass
class RenderStats:
    """Counts over a render: frames, tracked regions, protected top-1 before/after."""

    frames: int = 0
    frames_with_regions: int = 0
    regions: int = 0
    protected_before: int = 0
    protected_after: int = 0
    hidden: int = 0  # hide mode: regions the detector no longer finds on the after frame
    refined_frames: int = 0
    decoy_after: int = 0  # regions whose top-1 after the attack is the decoy
    decoy_probability: float = 0.0  # sum over regions (0 where not in the top 5)
    decoy_peak: float = 0.0
    hunter_said: Counter[int] = field(default_factory=Counter)  # top-1 before, per region
    hide: HideTally | None = None  # hide mode: trained patch versus a plain square
    patch_origin: str = ""  # the last frame's patch: "refined", "trained", "file", ...
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(
        default_factory=lambda: {"localise": 0.0, "track": 0.0, "patch": 0.0, "classify": 0.0})

    def add(self, result: FrameResult) -> None:
        protected = result.settings.protected
        self.frames += 1
        self.frames_with_regions += bool(result.tracks)
        self.regions += len(result.tracks)
        self.protected_before += sum(t.before.top1[0] in protected for t in result.tracks)
        self.protected_after += sum(t.after.top1[0] in protected for t in result.tracks)
        target = result.settings.target
        for track in result.tracks:
            self.hunter_said[track.before.top1[0]] += 1
            self.decoy_after += track.after.top1[0] == target
            p = track.after.probability(target)
            self.decoy_probability += p
            self.decoy_peak = max(self.decoy_peak, p)
        if result.after_detections is not None:
            verdicts = detector_verdicts([t.box for t in result.tracks],
                                         result.after_detections)
            self.hidden += sum(v is None for v in verdicts)
        self.refined_frames += result.patch_ready
        if result.hide is not None:
            self.hide = result.hide
        if result.patch_origin:
            self.patch_origin = result.patch_origin
        for stage in self.stage_seconds:
            self.stage_seconds[stage] += getattr(result.timings, stage)


def print_summary(stats: RenderStats, settings: PipelineSettings, out: Path,
                  classes: LabelSet) -> None:
    """The render's figures on stdout: speed, stages, tracked regions, success."""
    rate = stats.frames / stats.seconds if stats.seconds > 0 else float("inf")
    print(f"rendered {stats.frames} frames in {stats.seconds:.1f} s ({rate:.1f} fps), "
          f"mode {settings.mode}"
          + (f" eps {settings.eps * 255:g}/255, {settings.ghost_steps} "
             f"step{'s' if settings.ghost_steps > 1 else ''}" if settings.mode == "ghost"
             else "")
          + (f", {_patch_words(settings.mode, stats.patch_origin)}"
             if stats.refined_frames else ""))
    if stats.frames:
        stages = ", ".join(f"{name} {seconds / stats.frames * 1000:.0f} ms"
                           for name, seconds in stats.stage_seconds.items())
        print(f"per frame: {stages}")
    names = ", ".join(classes.name(i) for i in settings.protected)
    print(f"tracked regions: {stats.regions} in {stats.frames_with_regions} of "
          f"{stats.frames} frames")
    if stats.regions and settings.mode == "hide":
        shown = "patch" if settings.baseline == "none" else f"{settings.baseline} square"
        print(f"hidden from the detector after the {shown}: {_share(stats.hidden, stats)}")
        if stats.hide is not None:  # frames with every object hidden, both ways
            print(f"{stats.hide.describe()} (frames since the patch was ready)")
    elif stats.regions and stats.protected_before == 0:
        # Nothing the hunter called protected was there to hide: no success to report.
        said = ", ".join(f"{classes.name(i)} in {n} of {stats.regions}"
                         for i, n in stats.hunter_said.most_common(3))
        print(f"the hunter never saw {names} in the tracked regions (it said {said}): "
              "nothing to protect, so this render shows no success")
    elif stats.regions:
        print(f"top-1 still protected ({names}): before {_share(stats.protected_before, stats)}"
              f", after {_share(stats.protected_after, stats)}")
    if stats.regions and settings.mode in ("block", "ghost"):
        print(f"decoy {classes.name(settings.target)!r}: top-1 after in "
              f"{_share(stats.decoy_after, stats)}, p mean "
              f"{stats.decoy_probability / stats.regions:.3f}, peak {stats.decoy_peak:.3f}")
    print(f"wrote {out}")


def _patch_words(mode: str, origin: str) -> str:
    what = "hide patch" if mode == "hide" else "block"
    how = {"file": "given", "cache": "cached", "trained": "trained"}.get(origin, "refined")
    return f"{how} {what}"


def _share(count: int, stats: RenderStats) -> str:
    return f"{count}/{stats.regions} ({100 * count / stats.regions:.0f}%)"
