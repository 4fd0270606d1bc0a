"""Soak test of the live app's threads: does anything grow over an hour?

The capture thread plays a looping file, the inference worker runs block mode (NanoDet
every third frame, the hunter before/after), a recorder writes the before | after view
to MP4 (a new file every ``--record-every`` seconds; finished ones are checked and
removed), and a refinement job refines the block on the latest regions snapshot every
``--refine-every`` seconds - the same objects the window uses, without the window.
RSS, threads and open file descriptors are sampled every ``--sample-every`` seconds.

    .venv/bin/python benchmarks/soak.py [--minutes 60] [--json benchmarks/results/soak.json]

Prints one line per sample and a summary: RSS growth after warm-up (the first
``--warmup`` minutes), thread and descriptor counts first/last/max.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chickensaviour.labels import CAT_CLASS_INDICES  # noqa: E402
from chickensaviour.live import FramePipeline, PatchStore, PipelineSettings  # noqa: E402
from chickensaviour.live.draw import side_by_side  # noqa: E402
from chickensaviour.live.jobs import RefineJob  # noqa: E402
from chickensaviour.live.modes import LiveTools, create_mode  # noqa: E402
from chickensaviour.models import load_model  # noqa: E402
from chickensaviour.video.capture import CaptureThread  # noqa: E402
from chickensaviour.video.sources import open_source  # noqa: E402
from ui.recorder import Recorder  # noqa: E402
from ui.workers import InferenceWorker  # noqa: E402

logger = logging.getLogger("soak")
CLIP = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea_clip.mp4"


def rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--sample-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--record-every", type=float, default=300.0, help="seconds")
    parser.add_argument("--refine-every", type=float, default=600.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes")
    parser.add_argument("--clip", default=str(CLIP))
    parser.add_argument("--json", default=None, help="write the samples and summary here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    model = load_model("mobilenet_v2", device="cpu")
    cache = tempfile.mkdtemp(prefix="soak-cache-")
    store = PatchStore(cache)
    settings = PipelineSettings(protected=CAT_CLASS_INDICES, mode="block")
    spec = args.clip
    worker = InferenceWorker(FramePipeline(model, store=store),
                             CaptureThread(open_source(spec)), settings,
                             reopen=lambda: CaptureThread(open_source(spec)))
    out_dir = Path(tempfile.mkdtemp(prefix="soak-rec-"))
    worker.start()

    samples: list[dict[str, float]] = []
    recorder: Recorder | None = None
    recordings = frames_recorded = refinements = 0
    job: RefineJob | None = None
    started = time.monotonic()
    next_sample = started
    next_recording = started
    next_refine = started + 30.0
    last_result = None
    try:
        while time.monotonic() - started < args.minutes * 60:
            now = time.monotonic()
            processed = worker.take_result()
            if processed is not None:
                last_result = processed.result
                if recorder is not None:
                    recorder.add(side_by_side(last_result, width=800, bars=True))
            if now >= next_recording:
                if recorder is not None:
                    recorder.finish()
                    recorder.done.wait(60)
                    if recorder.error:
                        logger.error("recording failed: %s", recorder.error)
                    frames_recorded += recorder.writer.count
                    recorder.path.unlink(missing_ok=True)
                recorder = Recorder(out_dir / f"soak-{recordings}.mp4", 10.0, max_frames=10**6)
                recorder.start()
                recordings += 1
                next_recording = now + args.record_every
            if now >= next_refine and (job is None or not job.is_alive()) \
                    and last_result is not None and last_result.regions:
                job = RefineJob(create_mode("block"), last_result.regions, settings,
                                LiveTools(model, store))
                job.start()
                refinements += 1
                next_refine = now + args.refine_every
            if now >= next_sample:
                sample = {"minute": round((now - started) / 60, 2), "rss_mib": rss_mib(),
                          "threads": os_threads(), "py_threads": threading.active_count(),
                          "fds": open_descriptors(), "frames": worker.processed}
                samples.append(sample)
                print(json.dumps(sample), flush=True)
                next_sample = now + args.sample_every
            time.sleep(0.01)
    finally:
        if job is not None:
            job.cancel()
            job.join(30)
        if recorder is not None:
            recorder.finish()
            recorder.done.wait(60)
            frames_recorded += recorder.writer.count
            recorder.path.unlink(missing_ok=True)
        worker.stop(5.0)

    summary = summarise(samples, args.warmup)
    summary.update(frames=worker.processed, recordings=recordings,
                   frames_recorded=frames_recorded, refinements=refinements,
                   minutes=args.minutes, worker_alive_after_stop=worker.is_alive())
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"summary": summary, "samples": samples},
                                              indent=2))
    return 0


def summarise(samples: list[dict[str, float]], warmup_minutes: float) -> dict[str, object]:
    after = [s for s in samples if s["minute"] >= warmup_minutes] or samples
    first, last = after[0], after[-1]
    growth = (last["rss_mib"] - first["rss_mib"]) / first["rss_mib"] if first["rss_mib"] else 0
    return {
        "rss_mib_after_warmup_first": first["rss_mib"],
        "rss_mib_last": last["rss_mib"],
        "rss_mib_max": max(s["rss_mib"] for s in after),
        "rss_growth_after_warmup": round(growth, 4),
        "rss_median": statistics.median(s["rss_mib"] for s in after),
        "threads_first_last_max": [first["threads"], last["threads"],
                                   max(s["threads"] for s in after)],
        "fds_first_last_max": [first["fds"], last["fds"], max(s["fds"] for s in after)],
    }


if __name__ == "__main__":
    sys.exit(main())
