"""``process_overlapped``: a whole clip through the pipeline on three threads.

For frames that are all there in advance (a file being rendered), the detector can run
one frame ahead and the hunter can judge one frame behind the frame being patched:

    detect thread:   detect(n+1)
    calling thread:  prepare(n)      (track, mode, crops)
    judge thread:    judge(n-1)      (the hunter's top-k)

Each frame is detected on itself (not on an earlier frame, as the live window does to
never wait for the detector), so the results are the very ones of
:meth:`FramePipeline.process` frame after frame, in order; only the time differs.

Owner: the calling thread owns the pipeline's first stage; the judge thread runs one
``judge`` at a time, in frame order; the detect thread only reads the detector.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from chickensaviour.device import torch_threads, use_threads
from chickensaviour.live.pipeline import FoundRegions, FramePipeline, find_regions
from chickensaviour.live.results import FrameResult
from chickensaviour.live.settings import PipelineSettings
from chickensaviour.live.threads import LiveThreads


def process_overlapped(pipeline: FramePipeline, frames: Iterable[np.ndarray],
                       settings: PipelineSettings, *,
                       threads: LiveThreads | None = None) -> Iterator[FrameResult]:
    """Yield ``pipeline.process(frame, settings)`` for every frame, in order, with the
    detector one frame ahead and the hunter one frame behind on threads of their own.

    ``threads``: the torch threads of each stage; ``None`` leaves the calling thread's
    as they are and gives the others the same count (``render`` on a big machine keeps
    all its cores; the live window's one-per-stage policy is for 2 cores and a GUI).
    """
    if threads is None:
        count = torch.get_num_threads()
        threads = LiveThreads(prepare=count, prepare_gradients=count, judge=count)
    detector = pipeline.detector_for_another_thread(settings)
    mode = pipeline.mode(settings.mode)
    every = 1 if mode.detect_every_frame else settings.detect_every
    index = pipeline.frame_index
    ahead: deque[tuple[np.ndarray, Future[FoundRegions] | None]] = deque()
    judging: Future[FrameResult] | None = None
    with torch_threads(threads.for_prepare(mode.gradients_every_frame)), \
            ThreadPoolExecutor(1, thread_name_prefix="detect", initializer=use_threads,
                            initargs=(threads.judge,)) as detect_pool, \
            ThreadPoolExecutor(1, thread_name_prefix="judge", initializer=use_threads,
                               initargs=(threads.judge,)) as judge_pool:
        def step(frame: np.ndarray, found: Future[FoundRegions] | None
                 ) -> Iterator[FrameResult]:
            """Prepare ``frame``, then yield the frame before it (judged meanwhile)."""
            nonlocal judging
            previous, judging = judging, None
            try:
                prepared = pipeline.prepare(frame, settings, detect=detector is None,
                                            found=found.result() if found is not None
                                            else None)
            except BaseException:
                if previous is not None:  # the frames before a failure are delivered
                    yield previous.result()
                raise
            if previous is not None:
                yield previous.result()
            judging = judge_pool.submit(pipeline.judge, prepared)

        try:
            failure: Exception | None = None
            try:
                for frame in frames:
                    due = detector is not None and index % every == 0
                    ahead.append((frame, detect_pool.submit(
                        find_regions, detector, frame, pipeline.model.device) if due
                        else None))
                    index += 1
                    if len(ahead) > 1:
                        yield from step(*ahead.popleft())
            except Exception as exc:  # the source failed mid-clip: finish the frames read
                failure = exc
            while ahead:
                yield from step(*ahead.popleft())
            if judging is not None:
                yield judging.result()
            if failure is not None:
                raise failure
        finally:
            for _, found in ahead:  # a consumer that stops early: drop what is queued
                if found is not None:
                    found.cancel()
