from __future__ import annotations

import pytest

from chickensaviour.errors import ChickenSaviourError, UnknownClassError
from chickensaviour.labels import CAT_CLASS_INDICES, LabelSet, imagenet_classes, parse_class_list


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
    classes = LabelSet(("crane", "hen", "Crane"))
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


def test_a_user_label_set_of_any_size_resolves_and_suggests(tmp_path) -> None:
    path = tmp_path / "labels.txt"
    path.write_text("# my classes\nchicken\nfox\n\nbackground\n", encoding="utf-8")
    labels = LabelSet.from_file(path)
    assert labels.names == ("chicken", "fox", "background") and len(labels) == 3
    assert not labels.is_imagenet and imagenet_classes().is_imagenet
    assert labels.resolve("Fox") == 1 and labels.resolve("back") == 2 and labels.resolve(0) == 0
    assert parse_class_list("chicken, fox", labels) == (0, 1)  # no ImageNet common words
    with pytest.raises(UnknownClassError, match="did you mean: chicken"):
        labels.resolve("chiken")
    with pytest.raises(UnknownClassError, match=r"out of range 0\.\.2"):
        labels.resolve(3)


def test_empty_or_unreadable_label_files_are_one_clear_error(tmp_path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# nothing\n", encoding="utf-8")
    with pytest.raises(ChickenSaviourError, match="holds no names"):
        LabelSet.from_file(empty)
    with pytest.raises(ChickenSaviourError, match="cannot read labels"):
        LabelSet.from_file(tmp_path / "missing.txt")
