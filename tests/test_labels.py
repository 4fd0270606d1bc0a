from __future__ import annotations

import pytest

from chickensaviour.errors import UnknownClassError
from chickensaviour.labels import CAT_CLASS_INDICES, ImageNetClasses, imagenet_classes


def test_thousand_classes_in_torchvision_order() -> None:
    classes = imagenet_classes()
    assert len(classes) == 1000
    assert classes.name(0) == "tench"
    assert classes.name(8) == "hen" and classes.name(7) == "cock"
    assert [classes.name(i) for i in CAT_CLASS_INDICES] == [
        "tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"]


@pytest.mark.parametrize(
    ("query", "index"),
    [(759, 759), ("759", 759), ("reflex camera", 759), ("reflex_camera", 759),
     ("Reflex Camera", 759), ("egyptian_cat", 285), ("broccol", 937), ("hog", 341)],
)
def test_resolve_accepts_index_name_case_and_unique_partial(query: object, index: int) -> None:
    assert imagenet_classes().resolve(query) == index  # type: ignore[arg-type]


def test_misspelt_chicken_suggests_hen_and_cock() -> None:
    with pytest.raises(UnknownClassError, match=r"did you mean: hen, cock"):
        imagenet_classes().resolve("chiken")


def test_partial_name_matching_several_classes_lists_them() -> None:
    with pytest.raises(UnknownClassError, match="Polaroid camera") as error:
        imagenet_classes().resolve("camera")
    assert "reflex camera" in str(error.value)


def test_duplicate_names_ask_for_an_index() -> None:
    classes = ImageNetClasses(("crane", "hen", "Crane"))
    assert classes.resolve("crane") == 0  # exact, case-sensitive match wins
    with pytest.raises(UnknownClassError, match=r"0 \(crane\), 2 \(Crane\)"):
        classes.resolve("CRANE")


@pytest.mark.parametrize("query", ["", "   ", "1000", "-3", "xqzzv"])
def test_bad_queries_raise(query: str) -> None:
    with pytest.raises(UnknownClassError):
        imagenet_classes().resolve(query)


def test_search_ranks_exact_then_partial_then_common_words() -> None:
    found = imagenet_classes().search("cat")
    names = [m.name for m in found]
    assert names[0] in {"tabby", "tiger cat"} or "cat" in names[0].lower()
    assert "Egyptian cat" in names and "tabby" in names
    chicken = imagenet_classes().search("chicken")
    assert {"hen", "cock"} <= {m.name for m in chicken}
