"""A non-editable ``pip install .`` works from any directory: bundled data comes with the
wheel and is found through importlib.resources, not through the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run inside the fresh venv, from a folder far from the checkout.
CHECK = r"""
import json, sys
from pathlib import Path
import chickensaviour, ui
from chickensaviour.assets import bundled, sample
from chickensaviour.models.nanodet.net import load_nanodet, weights_path
from chickensaviour.imaging import read_image
from chickensaviour.models import load_model

root = Path(sys.argv[1])
files = [chickensaviour.__file__, ui.__file__, str(weights_path()), str(sample("chelsea.png")),
         str(sample("chelsea_clip.mp4")), str(bundled("samples", "LICENSE.md"))]
load_nanodet("cpu")
top = load_model("mobilenet_v2", device="cpu").predict(read_image(sample("chelsea.png")), 1)[0]
print(json.dumps({"files": files, "outside": all(root not in Path(f).parents for f in files),
                  "top1": top.names[0]}))
"""


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.pretrained
def test_a_wheel_installed_into_a_fresh_venv_works_from_any_directory(tmp_path: Path) -> None:
    # Built from a copy: setuptools leaves build/ behind, whose stale files could end up
    # in a later wheel built from the checkout.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "out", "*.egg-info", "__pycache__", ".*_cache"))
    wheels = tmp_path / "wheels"
    built = _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                  "--no-build-isolation", "-q", "-w", str(wheels)], cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("chickensaviour-*.whl"))

    fresh = tmp_path / "fresh"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                      "['purelib'])"], cwd=tmp_path).stdout.strip())
    # The heavy dependencies (torch...) come from this venv's site-packages as a plain
    # path: its .pth files (the editable install's hook among them) are not run.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = _run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                      "--target", str(site), str(wheel)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checked = _run([str(python), "-c", CHECK, str(ROOT)], cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr[-2000:]
    import json

    report = json.loads(checked.stdout.strip().splitlines()[-1])
    assert report["outside"], report["files"]  # nothing read from the checkout
    assert all(str(site) in f for f in report["files"]), report["files"]
    assert report["top1"] in ("Egyptian cat", "tabby", "tiger cat"), report
    cli = _run([str(python), "-m", "chickensaviour", "models"], cwd=elsewhere)
    assert cli.returncode == 0 and "mobilenet_v2" in cli.stdout, cli.stderr[-2000:]
