"""The live window's frame rate, latency and first refinement, for both paths.

Run from the repository root (needs Xvfb, or a display in ``$DISPLAY``)::

    .venv/bin/python benchmarks/bench_live.py [--rounds 2] [--seconds 40]
        [--modes block ghost hide off] [--json PATH]

For each round and mode it opens the real window (``main.py``) on the bundled 640x480,
30 fps clip played ``--as-camera`` (real time, newest frame only), with the default
model, and reads back the ``--stats`` JSON. The two paths run alternately, one after the
other for each mode, so that both see the same machine:

- ``pytorch``: every network in PyTorch eager (``--engine torch``) and the stages one
  after the other on the inference thread (``--no-overlap``), as before this benchmark;
- ``fast``: the defaults: ONNX Runtime for the forward-only stages (detector,
  classification), the judge stage of frame n overlapping the first stage of frame n+1,
  panes drawn off the GUI thread.

Each window starts with an empty patch cache (the models and exported graphs are
kept), so block and hide mode start from a quick block / a grey square and refine it
automatically: the table gives the first refinement's time, the rates over the whole
run (from the first frame with a region on), and the rates while no job ran. With
``--refined`` the windows use the user's patch cache instead (run the app once in block
and hide mode first) and refine nothing: the steady state of a demo. Then the pure
pipeline (``FramePipeline.process`` on decoded frames, no window, no threads) is timed
for both engines, alternating frame by frame.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "chickensaviour" / "assets" / "samples" / "chelsea_clip.mp4"
PATHS = {"pytorch": ["--engine", "torch", "--no-overlap"], "fast": []}
MODES = ("block", "ghost", "hide", "off")


def start_display() -> tuple[dict[str, str], subprocess.Popen[bytes] | None]:
    """The environment for the windows: ``$DISPLAY`` if set, else a new Xvfb."""
    env = dict(os.environ)
    if env.get("DISPLAY"):
        return env, None
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        sys.exit("no DISPLAY and no Xvfb: install xvfb (apt-get install xvfb)")
    display = ":93"
    server = subprocess.Popen([xvfb, display, "-screen", "0", "1600x1000x24"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    env["DISPLAY"] = display
    return env, server


def private_cache(work: Path) -> Path:
    """A cache with the user's models and exported graphs but no patches."""
    from chickensaviour.files import cache_dir

    cache = work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for kind in ("models", "engines"):
        real = cache_dir(kind)
        if real.is_dir() and not (cache / kind).exists():
            (cache / kind).symlink_to(real)
    return cache


def run_window(env: dict[str, str], mode: str, path: str, seconds: float,
               work: Path, refined: bool = False) -> dict[str, object]:
    stats = work / f"{mode}-{path}.json"
    command = [sys.executable, str(ROOT / "main.py"), "--source", str(CLIP), "--as-camera",
               "--protect", "cat", "--mode", mode, "--quit-after", str(seconds),
               "--stats", str(stats), *PATHS[path]]
    if refined:  # the user's cache, with the patches refined earlier; no new job
        command.append("--no-auto-refine")
    else:
        cache = private_cache(work / f"{mode}-{path}")
        shutil.rmtree(cache / "patches", ignore_errors=True)
        env = {**env, "CHICKENSAVIOUR_CACHE": str(cache)}
    started = time.monotonic()
    done = subprocess.run(command, env=env,
                          capture_output=True, text=True, timeout=seconds + 240, check=False)
    if done.returncode != 0 or not stats.is_file():
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    figures = json.loads(stats.read_text())
    figures["wall_s"] = round(time.monotonic() - started, 1)
    stats.unlink()
    return figures


def pure_pipeline(frames: int) -> dict[str, dict[str, float]]:
    """fps of ``FramePipeline.process`` per mode and engine, engines alternating."""
    import torch

    from chickensaviour.labels import CAT_CLASS_INDICES
    from chickensaviour.live import FramePipeline, PatchStore, PipelineSettings
    from chickensaviour.models import load_model
    from chickensaviour.video.sources import VideoFileSource

    torch.set_num_threads(1)  # the live app's first-stage policy (LiveThreads)
    model = load_model("mobilenet_v2")
    clip = VideoFileSource(CLIP)
    decoded = []
    while len(decoded) < frames + 5 and (frame := clip.read()) is not None:
        decoded.append(frame)
    clip.close()
    figures: dict[str, dict[str, float]] = {}
    for mode in MODES:
        settings = PipelineSettings(protected=tuple(CAT_CLASS_INDICES),
                                    target=341, mode=mode)
        pipelines = {engine: FramePipeline(model, store=PatchStore(cache_dir=None),
                                           engine="torch" if engine == "pytorch" else "auto")
                     for engine in PATHS}
        times: dict[str, list[float]] = {engine: [] for engine in PATHS}
        for pipeline in pipelines.values():  # warm up: engines, quick block, detector
            for frame in decoded[:5]:
                pipeline.process(frame, settings)
        for frame in decoded[5:]:
            for engine, pipeline in pipelines.items():
                start = time.perf_counter()
                pipeline.process(frame, settings)
                times[engine].append(time.perf_counter() - start)
        figures[mode] = {engine: round(1 / statistics.median(t), 1)
                         for engine, t in times.items()}
        print(f"pipeline {mode}: " + ", ".join(f"{e} {v} fps" for e, v in figures[mode].items()),
              flush=True)
    return figures


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def table(runs: list[dict[str, object]], modes: list[str]) -> list[str]:
    """Medians over the rounds, one row per mode and path, and the fast/pytorch ratio."""
    rows = ["| mode | path | fps median | fps p95 (low) | latency median ms | latency p95 ms "
            "| fps w/o jobs | first refinement s | engines |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    ratios = []
    for mode in modes:
        medians = {}
        for path in PATHS:
            mine = [r for r in runs if r["mode"] == mode and r["path"] == path]

            def get(key: str, sub: str, mine: list[dict] = mine) -> float | None:  # type: ignore[type-arg]
                return _median([r[key][sub] for r in mine])  # type: ignore[index]

            quiet = _median([r["without_jobs"]["fps"]["median"] for r in mine])
            refine = _median([next(iter(r.get("refine_s", {}).values()), None) for r in mine])
            engines = ", ".join(f"{k} {v}" for k, v in sorted(mine[-1]["engines"].items()))
            medians[path] = get("fps", "median")
            rows.append(f"| {mode} | {path} | {get('fps', 'median')} | {get('fps', 'p95')} | "
                        f"{get('latency_ms', 'median')} | {get('latency_ms', 'p95')} | {quiet} | "
                        f"{refine if refine is not None else '-'} | {engines} |")
        if medians.get("pytorch") and medians.get("fast"):
            ratios.append(f"{mode}: fast/pytorch fps {medians['fast'] / medians['pytorch']:.2f}x")
    return [*rows, "", *ratios]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=40.0,
                        help="how long each window runs (block/hide refine within it)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--pipeline-frames", type=int, default=40)
    parser.add_argument("--skip-window", action="store_true")
    parser.add_argument("--refined", action="store_true",
                        help="use the refined patches of the user's cache; refine nothing")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    env, server = start_display()
    runs: list[dict[str, object]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench_live_") as folder:
            for round_number in range(args.rounds if not args.skip_window else 0):
                for mode in args.modes:
                    order = list(PATHS) if round_number % 2 == 0 else list(PATHS)[::-1]
                    for path in order:
                        figures = run_window(env, mode, path, args.seconds, Path(folder),
                                             args.refined)
                        figures.update(path=path, mode=mode, round=round_number)
                        runs.append(figures)
                        print(f"round {round_number} {mode:5s} {path:7s} fps "
                              f"{figures['fps']} latency {figures['latency_ms']} "
                              f"refine {figures.get('refine_s', '-')} dropped "
                              f"{figures['dropped']}/{figures['frames']}", flush=True)
    finally:
        if server is not None:
            server.terminate()
    pipeline = {} if args.skip_pipeline else pure_pipeline(args.pipeline_frames)
    lines = table(runs, args.modes) if runs else []
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "seconds": args.seconds,
                                         "runs": runs, "pipeline_fps": pipeline,
                                         "table": lines}, indent=2) + "\n")


if __name__ == "__main__":
    main()
