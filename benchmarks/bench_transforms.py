"""Time forward + backward of the print-and-camera transforms on a patch-training batch.

Run from the repository root::

    .venv/bin/python benchmarks/bench_transforms.py [--threads 2] [--repeats 30] [--json PATH]

Each op runs on 8 RGB crops of chelsea.png at 224 x 224 (float32, the images require
grad, the parameters drawn per sample as the trainer draws them and do not); one timing
is forward + ``out.backward(dense)`` with a fixed random gradient (as a model's loss
sends back; ``sum()`` would send a broadcast one that some backward kernels shortcut).
``simulation`` is one whole training-step transform:
``PrintCameraSimulation(PrintCameraRanges.full())`` sample, ``print_patch`` of a 64 px
patch, ``warp_patch`` into the scenes, ``capture``, backward to the patch;
``print+capture`` the same without the paste (sample, ``print_patch``, ``capture`` of the
scenes, backward to both), ``warp_patch`` the paste alone (sample, corners, warp). Draws
use the generator seeded with the repeat index, so every run sees the same settings.
The table gives the median and the quartiles in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from chickensaviour.device import torch_threads
from chickensaviour.imaging import read_image
from chickensaviour.transforms import camera, photometric
from chickensaviour.transforms.compression import jpeg
from chickensaviour.transforms.geometry import warp_patch
from chickensaviour.transforms.print_camera import PrintCameraRanges, PrintCameraSimulation
from chickensaviour.transforms.printer import print_colours

ROOT = Path(__file__).resolve().parent.parent
BATCH, SIZE, PATCH = 8, 224, 64


def scenes() -> torch.Tensor:
    """``BATCH`` 224 x 224 crops of chelsea.png (451 x 300) at spread-out offsets."""
    photo = read_image(ROOT / "chickensaviour" / "assets" / "samples" / "chelsea.png")
    height, width = photo.shape[-2:]
    crops = []
    for i in range(BATCH):
        top = (height - SIZE) * (i % 3) // 2
        left = (width - SIZE) * i // (BATCH - 1)
        crops.append(photo[0, :, top:top + SIZE, left:left + SIZE])
    return torch.stack(crops).contiguous()


def uniform(seed: int, low: float, high: float, *trailing: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1000 + seed)
    return low + (high - low) * torch.rand((BATCH, *trailing), generator=generator)


def colour_matrices(seed: int) -> torch.Tensor:
    off = uniform(seed, -0.08, 0.08, 3, 3) * (1 - torch.eye(3))
    return off + torch.diag_embed(1 - off.sum(dim=2))


def ops() -> dict[str, Callable[[torch.Tensor, int], torch.Tensor]]:
    """name -> op(images, seed), with the full ranges' parameters."""
    return {
        "brightness": lambda x, s: photometric.brightness(x, uniform(s, -0.15, 0.15)),
        "contrast": lambda x, s: photometric.contrast(x, uniform(s, 0.75, 1.25)),
        "gaussian_blur": lambda x, s: photometric.gaussian_blur(x, uniform(s, 0.0, 1.5)),
        "motion_blur": lambda x, s: photometric.motion_blur(x, uniform(s, 0.0, 5.0),
                                                            uniform(s + 1, 0.0, math.pi)),
        "sensor_noise": lambda x, s: camera.sensor_noise(
            x, uniform(s, 0.0, 0.04), uniform(s + 1, 0.0, 0.015),
            torch.Generator().manual_seed(s)),
        "white_balance": lambda x, s: camera.white_balance(x, uniform(s, 0.85, 1.15, 3)),
        "camera_response": lambda x, s: camera.camera_response(x, colour_matrices(s),
                                                               uniform(s + 1, 0.8, 1.25)),
        "shadow": lambda x, s: camera.shadow(x, uniform(s, 0.0, 0.35),
                                             uniform(s + 1, -math.pi, math.pi),
                                             uniform(s + 2, -1.0, 1.0)),
        "print_colours": lambda x, s: print_colours(x, uniform(s, 0.85, 0.97, 3),
                                                    uniform(s + 1, 0.03, 0.12, 3),
                                                    uniform(s + 2, 0.7, 1.0)),
        "jpeg": lambda x, s: jpeg(x, uniform(s, 40.0, 95.0).round()),
    }


def dense_gradient(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(99))


def time_op(op: Callable[[torch.Tensor, int], torch.Tensor], images: torch.Tensor,
            repeats: int) -> list[float]:
    gradient = dense_gradient(tuple(images.shape))
    times = []
    for seed in range(-2, repeats):  # two warm-up runs
        x = images.clone().requires_grad_(True)
        started = time.perf_counter()
        op(x, max(seed, 0)).backward(gradient)
        if seed >= 0:
            times.append(time.perf_counter() - started)
    return times


def time_simulation(images: torch.Tensor, repeats: int, mode: str = "all") -> list[float]:
    """Times of ``mode``: "all" (paste and film), "camera" (no paste), "warp" (paste only)."""
    simulation = PrintCameraSimulation(PrintCameraRanges.full())
    patch_generator = torch.Generator().manual_seed(7)
    patch_init = torch.rand(1, 3, PATCH, PATCH, generator=patch_generator)
    centre = torch.full((BATCH, 2), SIZE / 2.0)
    gradient = dense_gradient(tuple(images.shape))
    times = []
    for seed in range(-2, repeats):
        patch = patch_init.clone().requires_grad_(True)
        scenes_ = images.clone().requires_grad_(True)
        generator = torch.Generator().manual_seed(max(seed, 0))
        started = time.perf_counter()
        draw = simulation.sample(BATCH, generator)
        if mode == "warp":
            corners = draw.corners(centre, float(PATCH))
            out, _ = warp_patch(images, patch.expand(BATCH, -1, -1, -1), corners)
        elif mode == "camera":
            sheet = simulation.print_patch(patch, draw)
            out = simulation.capture(scenes_, draw, generator)
            sheet.backward(dense_gradient(tuple(sheet.shape)), retain_graph=False)
        else:
            sheet = simulation.print_patch(patch, draw)
            pasted, _ = warp_patch(images, sheet, draw.corners(centre, float(PATCH)))
            out = simulation.capture(pasted, draw, generator)
        out.backward(gradient)
        if seed >= 0:
            times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> dict[str, float]:
    quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else times * 3
    return {"median_ms": 1000 * statistics.median(times), "q1_ms": 1000 * quartiles[0],
            "q3_ms": 1000 * quartiles[2], "repeats": len(times)}


def jpeg_accuracy(qualities: tuple[int, ...] = (30, 60, 90)) -> dict[str, dict[str, float]]:
    """Mean absolute difference ([0, 1] scale) of our differentiable JPEG to OpenCV's real
    encoder + decoder on the bundled chelsea.png, and of OpenCV's JPEG to the original."""
    import cv2

    from chickensaviour.assets import sample
    from chickensaviour.imaging import bgr_to_tensor, tensor_to_bgr

    photo = read_image(sample("chelsea.png"))
    rows = {}
    for quality in qualities:
        ok, data = cv2.imencode(".jpg", tensor_to_bgr(photo), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("OpenCV could not encode JPEG")
        real = bgr_to_tensor(cv2.imdecode(data, cv2.IMREAD_COLOR))
        ours = jpeg(photo, float(quality))
        rows[str(quality)] = {"ours_vs_opencv": float((ours - real).abs().mean()),
                              "opencv_vs_original": float((real - photo).abs().mean())}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--only", nargs="*", help="time only these rows")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--jpeg-accuracy", action="store_true",
                        help="only compare our JPEG with OpenCV's on chelsea.png")
    args = parser.parse_args()
    if args.jpeg_accuracy:
        accuracy = jpeg_accuracy()
        print("| quality | ours vs OpenCV | OpenCV vs original |\n|---:|---:|---:|")
        for quality, row in accuracy.items():
            print(f"| {quality} | {row['ours_vs_opencv']:.4f} | "
                  f"{row['opencv_vs_original']:.4f} |")
        if args.json is not None:
            args.json.write_text(json.dumps(accuracy, indent=2) + "\n")
        return
    images = scenes()
    rows: dict[str, dict[str, float]] = {}
    jobs: dict[str, Callable[[], list[float]]] = {
        name: (lambda op=op: time_op(op, images, args.repeats)) for name, op in ops().items()}
    jobs["warp_patch"] = lambda: time_simulation(images, args.repeats, "warp")
    jobs["print+capture"] = lambda: time_simulation(images, args.repeats, "camera")
    jobs["simulation"] = lambda: time_simulation(images, args.repeats)
    with torch_threads(args.threads), torch.random.fork_rng():
        for name, job in jobs.items():
            if args.only and name not in args.only:
                continue
            rows[name] = summary(job())
            row = rows[name]
            print(f"{name:16s} {row['median_ms']:8.1f} ms  "
                  f"[{row['q1_ms']:.1f}, {row['q3_ms']:.1f}]", flush=True)
    print(f"\n| op (fwd+bwd, {BATCH} x 3 x {SIZE} x {SIZE}) | median ms | quartiles ms |")
    print("|---|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['median_ms']:.1f} | {row['q1_ms']:.1f}-{row['q3_ms']:.1f} |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"threads": args.threads, "batch": BATCH, "size": SIZE, "patch": PATCH,
                   "torch": torch.__version__, "machine": platform.machine(),
                   "load_average": list(_load_average()), "rows": rows}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


def _load_average() -> tuple[float, ...]:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return ()


if __name__ == "__main__":
    main()
