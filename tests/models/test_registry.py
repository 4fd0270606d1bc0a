from __future__ import annotations

from pathlib import Path

import pytest
import torch

from chickensaviour.device import pick_device
from chickensaviour.errors import ChickenSaviourError, UnknownModelError
from chickensaviour.imaging import read_image
from chickensaviour.labels import CAT_CLASS_INDICES, imagenet_classes
from chickensaviour.models import describe_models, load_model, model_names, model_spec
from tests.conftest import SAMPLES, require_weights

pytestmark = pytest.mark.pretrained


IMAGENET_MODELS = [name for name in model_names() if model_spec(name).labels().is_imagenet]


def test_the_zoo_holds_imagenet_models_and_a_digit_classifier() -> None:
    assert model_names()[:6] == ["mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1",
                                 "efficientnet_lite2", "resnet50", "lenet5_mnist"]
    assert IMAGENET_MODELS == model_names()[:5]


@pytest.mark.parametrize("name", IMAGENET_MODELS)
def test_every_offline_model_sees_the_cat_and_the_coffee(name: str) -> None:
    require_weights(name)
    model = load_model(name, device="cpu")
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    cat = model.predict(read_image(SAMPLES / "chelsea.png"), 1)[0]
    assert cat.indices[0] in CAT_CLASS_INDICES, cat
    coffee = model.predict(read_image(SAMPLES / "coffee.png"), 1)[0]
    assert coffee.names[0] in {"espresso", "cup"}, coffee


def test_input_sizes_and_normalisation_follow_the_published_models() -> None:
    assert [model_spec(n).input_size for n in model_names()][:4] == [224, 224, 240, 260]
    assert model_spec("efficientnet_lite0").mean == (0.5, 0.5, 0.5)


def test_describe_models_finds_the_installed_weights() -> None:
    infos = {info.name: info for info in describe_models()}
    for name in model_names():
        assert infos[name].problem is None
        assert infos[name].weights_path is not None and Path(infos[name].weights_path).is_file()


def test_unknown_model_lists_the_offline_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"mobilenet_v2, efficientnet_lite0.*CARD\.json"):
        load_model("not_a_model")


def test_uncached_torchvision_model_fails_clearly(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(UnknownModelError, match=r"not in the torch cache.*could not be downloaded"):
        load_model("resnet18")


def test_cached_torchvision_model_loads_from_the_cache(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint whose sha256 starts with the hash in its name loads, by plain name and
    as ``torchvision:NAME``, and is listed."""
    from torchvision import models

    from chickensaviour.files import file_sha256
    from chickensaviour.models.sources import hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    torch.manual_seed(0)
    unnamed = tmp_path / "squeezenet.pth"
    torch.save(models.squeezenet1_1(weights=None).state_dict(), unnamed)
    file_name = f"squeezenet1_1-{file_sha256(unnamed)[:8]}.pth"
    unnamed.rename(tmp_path / "checkpoints" / file_name)
    monkeypatch.setattr(hub.HubCacheWeights, "for_torchvision",
                        classmethod(lambda cls, name: cls(name, file_name)))
    model = load_model("squeezenet1_1", device="cpu")
    assert model.input_size == 224 and model.name == "squeezenet1_1"
    assert model(torch.rand(1, 3, 50, 60)).shape == (1, 1000)
    assert load_model("torchvision:squeezenet1_1", device="cpu").name == "torchvision:squeezenet1_1"
    assert any(info.name == "torchvision:squeezenet1_1" for info in describe_models())


def test_device_choice() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else None
    if expected is None:
        assert pick_device().type in {"cpu", "mps"}
        with pytest.raises(ChickenSaviourError, match="CUDA is not available"):
            pick_device("cuda")
    with pytest.raises(ChickenSaviourError, match="unknown device"):
        pick_device("toaster")


def test_class_names_are_shared_by_the_zoo() -> None:
    assert load_model("efficientnet_lite0", device="cpu").classes is imagenet_classes()


def test_a_converted_file_that_matches_its_record_but_cannot_load_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The sidecar vouches for the hash, yet the file is junk (written by another torch,
    damaged together with its record): one line saying how to fetch it again. Without
    the record, ``models`` does not call it ok."""
    import json

    from chickensaviour.cli.main import main
    from chickensaviour.files import CACHE_ENV, file_sha256
    from chickensaviour.models.sources.npm import RESNET50_KERAS

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    path = RESNET50_KERAS.path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not really a zip" * 100)
    RESNET50_KERAS.sidecar.write_text(json.dumps({
        "sha256": file_sha256(path), "tarball_sha256": RESNET50_KERAS.tarball_sha256}))
    with pytest.raises(ChickenSaviourError) as caught:
        load_model("resnet50", device="cpu")
    message = str(caught.value)
    assert "cannot load resnet50" in message and "--fetch resnet50" in message, message
    assert "\n" not in message
    RESNET50_KERAS.sidecar.unlink()  # now not even its hash can be checked
    broken = {info.name: info for info in describe_models()}["resnet50"]
    assert broken.problem is not None and "cannot be checked" in broken.problem
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "resnet50             ok" not in listing
