"""The mode registry, the patch store (memory and disk), hide mode's honest tally and
refinement jobs: tiny models and scripted detectors, no threads beyond the job's."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from chickensaviour.errors import ChickenSaviourError
from chickensaviour.live import (
    FramePipeline,
    PatchKey,
    PatchStore,
    PipelineSettings,
    create_mode,
    mode_class,
    mode_names,
)
from chickensaviour.live.jobs import RefineJob
from chickensaviour.live.modes import LiveTools, ModeInput, ModeOutput, register
from chickensaviour.live.modes.base import NoPatch
from chickensaviour.live.modes.block import BlockMode
from chickensaviour.live.modes.hide import HideMode
from chickensaviour.models.detections import Detections
from chickensaviour.overlay.blocks import Context, RefineSettings
from tests.conftest import make_tiny_classifier


def test_the_registry_lists_the_built_in_modes_in_menu_order() -> None:
    assert mode_names()[:4] == ("block", "ghost", "hide", "off")
    assert mode_class("ghost").controls == {"eps", "ghost_steps"}
    assert mode_class("block").trains == "block" and mode_class("off").trains is None
    assert create_mode("block") is not create_mode("block")  # one object per pipeline
    with pytest.raises(ChickenSaviourError, match="mode must be one of"):
        mode_class("magic")


def test_a_registered_mode_runs_in_the_pipeline_without_other_changes() -> None:
    class InvertMode(NoPatch):
        name: ClassVar[str] = "invert-test"
        controls: ClassVar[frozenset[str]] = frozenset()
        detect_every_frame: ClassVar[bool] = False

        def apply(self, frame: ModeInput, tools: LiveTools) -> ModeOutput:
            return ModeOutput(1.0 - frame.image)

    register(InvertMode)  # type: ignore[arg-type]
    settings = PipelineSettings(protected=(1,), target=3, mode="invert-test",
                                manual_boxes=((0.0, 0.0, 8.0, 8.0),))
    pipeline = FramePipeline(make_tiny_classifier(), store=PatchStore(False),
                             detector_factory=lambda m, p: _Nothing())
    frame = np.full((16, 16, 3), 10, np.uint8)
    result = pipeline.process(frame, settings)
    assert (result.after == 245).all()


class _Nothing:
    def detect(self, frame: torch.Tensor) -> Detections:
        return Detections.empty()


def test_store_hands_patches_across_threads_with_growing_versions() -> None:
    store = PatchStore(False)
    key = PatchKey("block", "tiny", (3,), 8)
    assert store.get(key) is None
    first = store.put(key, torch.zeros(1, 3, 8, 8), ready=False, origin="pgd")
    done = threading.Event()

    def job() -> None:
        store.put(key, torch.ones(1, 3, 8, 8), ready=True, origin="refined")
        done.set()

    threading.Thread(target=job).start()
    assert done.wait(5)
    latest = store.get(key)
    assert latest is not None and latest.ready and latest.version > first.version
    assert float(latest.image.mean()) == 1.0
    assert float(first.image.mean()) == 0.0  # what a reader held is never modified
    with pytest.raises(ChickenSaviourError, match="a patch must be"):
        store.put(key, torch.zeros(3, 8, 8), ready=True, origin="x")


def test_ready_patches_survive_a_restart_through_the_disk_cache(tmp_path: Path) -> None:
    key = PatchKey("block", "mobilenet_v2", (341,), 16)
    block = torch.rand(1, 3, 16, 16)
    PatchStore(tmp_path).put(key, block, ready=True, origin="refined")
    PatchStore(tmp_path).put(PatchKey("block", "m", (1,), 16), block, ready=False,
                             origin="pgd")
    assert [p.name for p in tmp_path.iterdir()] == [key.file_name]  # only the ready one
    again = PatchStore(tmp_path).get(key)
    assert again is not None and again.ready and again.origin == "cache"
    assert torch.allclose(again.image, block, atol=1 / 255)  # stored as 8-bit PNG


def test_a_corrupt_cached_patch_is_ignored(tmp_path: Path) -> None:
    key = PatchKey("hide", "nanodet", (0,), 16)
    (tmp_path / key.file_name).write_bytes(b"not a png")
    assert PatchStore(tmp_path).get(key) is None


def test_block_mode_starts_from_a_pgd_block_and_uses_the_refined_one_next_frame() -> None:
    model = make_tiny_classifier()
    store = PatchStore(False)
    block_mode = BlockMode(RefineSettings(steps=3, batch=2))
    pipeline = FramePipeline(model, store=store, modes={"block": block_mode},
                             detector_factory=lambda m, p: _Nothing())
    settings = PipelineSettings(protected=(1,), target=3, mode="block", block_size=16,
                                manual_boxes=((8.0, 8.0, 40.0, 40.0),))
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    first = pipeline.process(frame, settings)
    assert not first.patch_ready and first.patch_origin == "pgd"
    start = store.get(block_mode.patch_key(settings, "tiny"))
    assert start is not None and float(start.image.mean()) > 0.2  # not a black block
    regions = (Context(torch.rand(1, 3, 48, 64), (8.0, 8.0, 40.0, 40.0)),)
    job = RefineJob(create_mode("block"), regions, settings, LiveTools(model, store))
    job.run()  # synchronously: the job's body
    assert job.state == "done" and job.total == RefineSettings().steps
    second = pipeline.process(frame, settings)
    assert second.patch_ready and second.patch_origin == "refined"


def test_a_cancelled_job_stops_at_the_next_step_and_stores_nothing() -> None:
    model = make_tiny_classifier()
    store = PatchStore(False)
    settings = PipelineSettings(protected=(1,), target=3, mode="block", block_size=16)
    regions = (Context(torch.rand(1, 3, 48, 64), (8.0, 8.0, 40.0, 40.0)),)
    job = RefineJob(create_mode("block"), regions, settings, LiveTools(model, store))
    steps: list[int] = []
    job._progress = lambda done, total, value: (steps.append(done), job.cancel())  # type: ignore[method-assign]
    job.run()
    assert job.state == "cancelled" and steps == [1]
    stored = store.get(PatchKey("block", "tiny", (3,), 16))
    assert stored is None or not stored.ready


class _ScriptedBatchDetector:
    """Finds the object on frames whose centre pixel is not mid-grey (what a grey patch
    over the box centre leaves), so the tally's arithmetic can be checked exactly."""

    def detect_batch(self, frames: torch.Tensor) -> list[Detections]:
        found = []
        for frame in frames:
            centre = frame[:, 24, 32]
            if torch.allclose(centre, torch.full_like(centre, 0.5), atol=0.02):
                found.append(Detections.empty())
            else:
                found.append(Detections(np.array([[8.0, 8.0, 56.0, 40.0]]), np.array([0.8]),
                                        np.array([15])))
        return found


def test_hide_mode_counts_frames_hidden_by_the_patch_and_by_the_plain_square(
        monkeypatch: pytest.MonkeyPatch) -> None:
    model = make_tiny_classifier()
    store = PatchStore(False)
    tools = LiveTools(model, store)
    monkeypatch.setattr(tools, "detector", lambda classes, threshold=0.3: _ScriptedBatchDetector())
    mode = HideMode()
    settings = PipelineSettings(protected=(281,), mode="hide", block_size=16,
                                hide_fraction=0.5)
    image = torch.rand(1, 3, 48, 64)
    regions = ((1, (8.0, 8.0, 56.0, 40.0)),)
    key = mode.patch_key(settings, model.name)
    store.put(key, torch.zeros(1, 3, 16, 16), ready=True, origin="trained")  # a black patch
    for _ in range(3):
        out = mode.apply(ModeInput(image, regions, settings), tools)
    assert out.hide is not None
    assert out.hide.patch.describe() == "0/3 (0%)"  # black: still detected
    assert out.hide.baseline.describe() == "3/3 (100%)"  # grey square "hides" it
    assert "trained patch 0/3" in out.hide.describe()
    grey = mode.apply(ModeInput(image, regions, settings.with_changes(baseline="grey")),
                      tools)
    assert grey.patch_origin == "grey" and grey.hide is not None
    assert grey.hide.patch.frames == 4  # the same comparison: the counts go on
    assert torch.allclose(grey.after[0, :, 24, 32], torch.full((3,), 0.5), atol=0.01)
    noise = mode.apply(ModeInput(image, regions, settings.with_changes(baseline="noise")),
                       tools)
    assert noise.patch_origin == "noise" and noise.hide is not None
    assert noise.hide.patch.frames == 1  # another baseline: counted afresh
    store.put(key, torch.ones(1, 3, 16, 16), ready=True, origin="trained")
    fresh = mode.apply(ModeInput(image, regions, settings), tools)
    assert fresh.hide is not None and fresh.hide.patch.frames == 1  # a new patch too
    again = mode.apply(ModeInput(image, regions, settings, advance=False), tools)
    assert again.hide is not None and again.hide.patch.frames == 1  # paused: not counted
    bigger = mode.apply(ModeInput(image, regions, settings.with_changes(hide_fraction=0.6)),
                        tools)
    assert bigger.hide is not None and bigger.hide.patch.frames == 1  # another size


def test_a_finished_job_gives_freed_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The soak found RSS +350 MB at each new refinement thread's malloc arena."""
    import chickensaviour.live.jobs as jobs

    calls: list[int] = []
    monkeypatch.setattr(jobs, "release_freed_memory", lambda: calls.append(1) or True)
    model = make_tiny_classifier()
    settings = PipelineSettings(protected=(1,), target=3, mode="block", block_size=16)
    regions = (Context(torch.rand(1, 3, 48, 64), (8.0, 8.0, 40.0, 40.0)),)
    job = RefineJob(create_mode("block"), regions, settings, LiveTools(model, PatchStore(False)))
    job.start()
    job.join(60)
    assert job.state == "done" and calls == [1]
    import sys

    if sys.platform.startswith("linux"):  # glibc here, so the real call is available
        assert jobs._malloc_trim() is not None


def test_a_starting_patch_never_replaces_one_that_arrived_meanwhile() -> None:
    """The quick block takes seconds; a refinement finishing meanwhile must win."""
    store = PatchStore(False)
    key = PatchKey("block", "tiny", (3,), 8)

    def slow_start() -> torch.Tensor:  # a refinement job finishes while this runs
        store.put(key, torch.ones(1, 3, 8, 8), ready=True, origin="refined")
        return torch.zeros(1, 3, 8, 8)

    kept = store.get_or_start(key, slow_start, origin="pgd")
    assert kept.ready and kept.origin == "refined" and store.get(key) is kept
    other = PatchKey("block", "tiny", (4,), 8)
    first = store.get_or_start(other, lambda: torch.zeros(1, 3, 8, 8), origin="pgd")
    assert not first.ready and store.get(other) is first
    calls: list[int] = []
    again = store.get_or_start(other, lambda: calls.append(1) or torch.ones(1, 3, 8, 8),
                               origin="pgd")
    assert again is first and calls == []  # made once per key
