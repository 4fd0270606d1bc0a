"""``filters``, ``dream`` and ``visualize``: what the network sees, saved as images.

The library's ``render_*`` functions return tensors; these commands check the arguments,
run them with a progress bar and write every output all-or-nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from chickensaviour import files
from chickensaviour.cli import inputs, options
from chickensaviour.cli.bars import gif_bytes, progress_bar
from chickensaviour.errors import ChickenSaviourError
from chickensaviour.imaging import encode_image, read_image, tensor_to_bgr
from chickensaviour.models import load_model
from chickensaviour.models.registry import model_labels
from chickensaviour.models.wrapper import ImageClassifier
from chickensaviour.visualize import objectives as obj
from chickensaviour.visualize import transforms as tf
from chickensaviour.visualize.dream import DreamSettings, deep_dream
from chickensaviour.visualize.filters import (
    activation_grid,
    kernel_grid,
    layer_output,
    parse_channels,
)
from chickensaviour.visualize.layers import describe_layers, find_layer
from chickensaviour.visualize.params import fourier_image, pixel_image
from chickensaviour.visualize.render import Regulariser, forward_activations, render_vis

#: What ``--reg`` may name. "yosinski" is Yosinski et al.'s combination on the pixels
#: (L2 decay, blur, clipping, with jitter); "all" is lucent's recipe: the decorrelated
#: Fourier parameterisation with the jitter/scale/rotation transforms.
REGULARISERS = ("none", "l2", "blur", "jitter", "clip", "yosinski", "fourier", "all")
PIXEL_REGULARISERS = (Regulariser("l2", 0.002), Regulariser("blur", 0.7, every=8),
                      Regulariser("clip", 0.2, every=20))


def _check_objective(model: ImageClassifier, objective: obj.Objective, size: int) -> None:
    """Evaluate the objective once on a grey image: a bad channel fails before any bar."""
    with torch.no_grad():
        grey = torch.full((1, 3, size, size), 0.5, device=model.device)
        objective(forward_activations(model, grey, objective.layers))


def _seed(seed: int) -> None:
    torch.manual_seed(seed)


# -- filters --------------------------------------------------------------------------
def run_filters(args: argparse.Namespace) -> int:
    if args.list_layers:
        model = load_model(args.model, device=args.device, fold_bn=False)
        for info in describe_layers(model):
            shape = "x".join(str(s) for s in info.shape)
            print(f"{info.name:<28} {info.kind:<22} {shape}")
        return 0
    if args.image is None or args.layer is None or args.out is None:
        raise ChickenSaviourError("filters needs IMAGE, --layer and --out (or --list-layers)")
    out = Path(args.out)
    files.check_creatable_dir(out)
    image = read_image(Path(args.image))
    model = load_model(args.model, device=args.device, fold_bn=False)
    find_layer(model.net, args.layer)
    started = time.perf_counter()
    activations = layer_output(model, image, args.layer)
    channels = parse_channels(args.channels, activations.shape[0])
    grid = activation_grid(activations, channels)
    stem, layer = Path(args.image).stem, args.layer.replace(".", "_")
    outputs = {out / f"{stem}_{layer}_channels.png": encode_image(grid, ".png")}
    try:
        kernels = kernel_grid(model)
    except ChickenSaviourError as exc:  # a grey model: its kernels are not colour images
        print(f"note: no first-layer kernel grid for {model.name}: {exc}", file=sys.stderr)
    else:
        outputs[out / f"{model.name}_first_layer_kernels.png"] = encode_image(kernels, ".png")
    written = files.write_all(outputs)
    print(f"{args.layer}: {activations.shape[0]} channels of {activations.shape[2]}x"
          f"{activations.shape[1]}; showing {channels.start}..{channels.stop - 1} "
          f"({time.perf_counter() - started:.2f} s)")
    for path in written:
        print(f"wrote {path}")
    return 0


# -- dream ----------------------------------------------------------------------------
def run_dream(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ChickenSaviourError("--out must end in .png or .jpg")
    gif = Path(args.gif) if args.gif else None
    if gif is not None and gif.suffix.lower() != ".gif":
        raise ChickenSaviourError("--gif must end in .gif")
    settings = DreamSettings(
        steps=options.positive_int(args.steps, "steps", 1, 1000),
        octaves=options.positive_int(args.octaves, "octaves", 1, 12),
        octave_scale=options.finite_float(args.octave_scale, "octave-scale"),
        jitter=options.positive_int(args.jitter, "jitter", 0, 512),
        step_size=options.finite_float(args.step_size, "step-size"),
    )
    for path in (out, gif):
        if path is not None:
            files.check_creatable_file(path)
    image = inputs.read_photo(args.image, "dream", inputs.DREAM_PIXELS)
    model = load_model(args.model, device=args.device, fold_bn=False)
    find_layer(model.net, args.layer)
    objective = (obj.layer_activation(args.layer) if args.channel is None
                 else obj.channel(args.layer, options.positive_int(args.channel, "channel",
                                                                   0, 1_000_000)))
    _check_objective(model, objective, model.input_size)
    if gif is None:
        settings = replace(settings, frame_every=0)
    _seed(args.seed)
    started = time.perf_counter()
    with progress_bar(settings.steps * settings.octaves, "dream") as progress:
        dreamed, frames = deep_dream(model, image, objective, settings, seed=args.seed,
                                     progress=progress)
    seconds = time.perf_counter() - started
    outputs = {out: encode_image(dreamed, out.suffix)}
    if gif is not None:
        outputs[gif] = _gif(frames)
    written = files.write_all(outputs)
    print(f"dreamed on {args.layer}" + (f" channel {args.channel}" if args.channel else "")
          + f": {settings.octaves} octaves x {settings.steps} steps in {seconds:.1f} s")
    for path in written:
        print(f"wrote {path}")
    return 0


def _gif(frames: list[torch.Tensor], width: int = 480) -> bytes:
    return gif_bytes([tensor_to_bgr(frame[0])[..., ::-1] for frame in frames], width=width,
                     frame_ms=120, last_ms=1500)


# -- visualize ------------------------------------------------------------------------
def regularisers_for(name: str) -> tuple[set[str], list[Regulariser]]:
    """The ``--reg`` choice as (techniques in effect, pixel regularisers to run)."""
    if name not in REGULARISERS:
        raise ChickenSaviourError(f"--reg must be one of {', '.join(REGULARISERS)}")
    chosen = {"yosinski": {"l2", "blur", "clip", "jitter"}, "all": {"fourier", "jitter"},
              "none": set()}.get(name, {name})
    return chosen, [r for r in PIXEL_REGULARISERS if r.kind in chosen]


def run_visualize(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ChickenSaviourError("--out must end in .png or .jpg")
    if (args.layer is None) != (args.channel is None):
        raise ChickenSaviourError("--layer and --channel go together")
    if (args.layer is None) == (args.class_ is None):
        raise ChickenSaviourError("give --class NAME, or --layer NAME --channel C "
                                  "(one of them)")
    steps = options.positive_int(args.steps, "steps", 1, 20_000)
    chosen, pixel_regs = regularisers_for(args.reg)
    target = (model_labels(args.model).resolve(args.class_) if args.class_ is not None
              else None)
    files.check_creatable_file(out)
    model = load_model(args.model, device=args.device, fold_bn=False)
    classes = model.classes
    if args.layer is not None:
        find_layer(model.net, args.layer)
        objective = obj.channel(args.layer, options.positive_int(args.channel, "channel",
                                                                 0, 1_000_000))
    else:
        objective = obj.class_logit(target)
    size = model.input_size
    _seed(args.seed)
    if "fourier" in chosen:
        param = fourier_image(size, seed=args.seed, device=model.device)
        lr = 0.05
    else:
        param = pixel_image(size, start=args.start, seed=args.seed, device=model.device)
        lr = 0.02 if chosen else 0.01
    transforms = tf.STANDARD if "jitter" in chosen else ()
    _check_objective(model, objective, size)
    started = time.perf_counter()
    with progress_bar(steps, "visualize") as progress:
        image = render_vis(model, objective, param, transforms=transforms, steps=steps,
                           lr=lr, regularisers=pixel_regs, seed=args.seed, progress=progress)
    seconds = time.perf_counter() - started
    data = encode_image(image, out.suffix)
    files.write_all({out: data})
    probabilities = model.with_fit("stretch").probabilities(image)[0]
    top = int(probabilities.argmax())
    what = (f"class {classes.name(target)!r}: p = {float(probabilities[target]):.4f}"
            if target is not None else f"{args.layer} channel {args.channel}")
    print(f"{what} (top-1 {classes.name(top)!r} {float(probabilities[top]):.4f}); "
          f"reg {args.reg}, {steps} steps in {seconds:.1f} s")
    print(f"wrote {out}")
    return 0

