"""Class names of any classifier, with forgiving lookup; ImageNet-1k's is one instance.

A :class:`LabelSet` holds any number of names (a user model's "chicken", "fox",
"background", or ImageNet's 1000). Lookup accepts an index, an exact name, a
case-insensitive name (``_`` or space), a unique partial name, or (for ImageNet) a common
word ("chicken" -> hen, cock); a miss raises :class:`UnknownClassError` with suggestions.
ImageNet's names come from torchvision's weights metadata (shipped inside torchvision, no
download).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from chickensaviour.errors import ChickenSaviourError, UnknownClassError

#: Everyday words that are not ImageNet class names, mapped to the classes people mean.
COMMON_WORDS: dict[str, tuple[str, ...]] = {
    "chicken": ("hen", "cock"),
    "rooster": ("cock",),
    "pig": ("hog",),
    "cat": ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"),
    "kitten": ("tabby", "Egyptian cat"),
    "dog": ("golden retriever", "Labrador retriever", "beagle", "pug"),
    "puppy": ("golden retriever", "beagle"),
    "camera": ("reflex camera", "Polaroid camera"),
    "coffee": ("espresso", "coffee mug", "cup"),
    "car": ("sports car", "convertible", "minivan", "cab"),
    "bike": ("mountain bike", "bicycle-built-for-two"),
    "phone": ("cellular telephone", "dial telephone"),
    "laptop": ("laptop", "notebook"),
    "person": ("groom", "scuba diver", "ballplayer"),
    "bird": ("hen", "cock", "robin", "jay", "magpie"),
    "duck": ("drake", "red-breasted merganser"),
    "horse": ("sorrel",),
    "cow": ("ox",),
    "sheep": ("ram", "bighorn"),
    "monkey": ("gorilla", "chimpanzee", "baboon"),
}

#: Indices of the domestic-cat classes (tabby ... Egyptian cat).
CAT_CLASS_INDICES = (281, 282, 283, 284, 285)


@dataclass(frozen=True)
class ClassMatch:
    """One class found by :meth:`LabelSet.search`."""

    index: int
    name: str
    why: str  # "exact", "partial", "common word", "similar"


IMAGENET = "imagenet"


class LabelSet:
    """A classifier's class names, in output order, and lookups on them.

    Args:
        names: one name per output of the network.
        common_words: everyday words mapped to the class names people mean by them
            (ImageNet's: "chicken" -> hen, cock); empty for other label sets.
        kind: ``"imagenet"`` for ImageNet-1k (the COCO mapping of the detector applies
            only then; only :func:`imagenet_classes` makes it), else a free description
            such as ``"file labels.txt"``.

    Example: ``LabelSet(("chicken", "fox", "background")).resolve("Fox") == 1``
    """

    def __init__(self, names: tuple[str, ...] | list[str], *,
                 common_words: Mapping[str, tuple[str, ...]] | None = None,
                 kind: str = "custom") -> None:
        names = tuple(str(n) for n in names)
        if len(names) == 0:
            raise ChickenSaviourError("class list is empty")
        blank = [i for i, n in enumerate(names) if not n.strip()]
        if blank:
            raise ChickenSaviourError(f"class {blank[0]} has an empty name")
        self.names = names
        self.kind = kind
        self.common_words: dict[str, tuple[str, ...]] = dict(common_words or {})
        self._by_key: dict[str, list[int]] = {}
        for index, name in enumerate(names):
            self._by_key.setdefault(_key(name), []).append(index)

    @classmethod
    def from_file(cls, path: Path) -> LabelSet:
        """One name per line (blank lines and ``#`` comments skipped), UTF-8."""
        try:
            text = Path(path).read_text(encoding="utf-8-sig")  # a BOM from Notepad is fine
        except (OSError, UnicodeDecodeError) as exc:
            raise ChickenSaviourError(f"cannot read labels {path}: {exc}") from None
        names = tuple(line.strip() for line in text.splitlines()
                      if line.strip() and not line.lstrip().startswith("#"))
        if not names:
            raise ChickenSaviourError(f"labels file {path} holds no names")
        imagenet = imagenet_classes()
        if names == imagenet.names:  # ImageNet's classes, whatever the file is called
            return imagenet
        return cls(names, kind=f"file {Path(path).name}")

    @property
    def is_imagenet(self) -> bool:
        """Whether these are ImageNet-1k's classes in torchvision's order."""
        return self.kind == IMAGENET

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelSet) and self.names == other.names

    def __hash__(self) -> int:
        return hash(self.names)

    def __repr__(self) -> str:
        return f"LabelSet({len(self.names)} classes, {self.kind})"

    def __len__(self) -> int:
        return len(self.names)

    def name(self, index: int) -> str:
        """The class name at ``index``."""
        if not 0 <= index < len(self.names):
            raise UnknownClassError(f"class index {index} out of range 0..{len(self.names) - 1}")
        return self.names[index]

    def resolve(self, query: str | int) -> int:
        """Return the one class index ``query`` means, or raise with suggestions."""
        if isinstance(query, int) or (isinstance(query, str) and query.strip().isdigit()):
            return self._check_index(int(query))
        text = query.strip()
        if not text:
            raise UnknownClassError("empty class name")
        exact = [i for i, n in enumerate(self.names) if n == text]
        if len(exact) == 1:
            return exact[0]
        keyed = self._by_key.get(_key(text), [])
        if len(keyed) == 1:
            return keyed[0]
        if len(keyed) > 1:
            options = ", ".join(f"{i} ({self.names[i]})" for i in keyed)
            raise UnknownClassError(f"class {text!r} is ambiguous; use an index: {options}")
        partial = [i for i, n in enumerate(self.names) if _key(text) in _key(n)]
        if len(partial) == 1:
            return partial[0]
        if len(partial) > 1:
            shown = ", ".join(self.names[i] for i in partial[:8])
            more = f" and {len(partial) - 8} more" if len(partial) > 8 else ""
            raise UnknownClassError(f"class {text!r} matches several classes: {shown}{more}")
        suggestions = self.suggest(text)
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        raise UnknownClassError(f"unknown class {text!r}{hint}")

    def suggest(self, query: str, limit: int = 6) -> list[str]:
        """Class names close to a misspelt or everyday ``query`` ("chiken" -> hen, cock)."""
        key = _key(query)
        found: list[str] = []
        for word in difflib.get_close_matches(key, self.common_words, n=2, cutoff=0.75):
            found.extend(n for n in self.common_words[word] if n in self.names)
        close = difflib.get_close_matches(key, list(self._by_key), n=limit, cutoff=0.6)
        for name_key in close:
            found.extend(self.names[i] for i in self._by_key[name_key])
        return list(dict.fromkeys(found))[:limit]

    def search(self, query: str, limit: int = 20) -> list[ClassMatch]:
        """All classes a user might mean by ``query``, best first."""
        key = _key(query)
        matches: dict[int, ClassMatch] = {}

        def add(index: int, why: str) -> None:
            matches.setdefault(index, ClassMatch(index, self.names[index], why))

        if key.isdigit() and 0 <= int(key) < len(self.names):
            add(int(key), "exact")
        for index in self._by_key.get(key, []):
            add(index, "exact")
        for index, name in enumerate(self.names):
            if key and key in _key(name):
                add(index, "partial")
        for word in difflib.get_close_matches(key, self.common_words, n=2, cutoff=0.75):
            for name in self.common_words[word]:
                for index in self._by_key.get(_key(name), []):
                    add(index, "common word")
        if not matches:  # spelling suggestions only when nothing else was found
            for name_key in difflib.get_close_matches(key, list(self._by_key), n=8, cutoff=0.6):
                for index in self._by_key[name_key]:
                    add(index, "similar")
        return list(matches.values())[:limit]

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self.names):
            raise UnknownClassError(f"class index {index} out of range 0..{len(self.names) - 1}")
        return index


def classes_for(query: str, classes: LabelSet) -> list[int]:
    """The classes a user means: an index or exact name, an everyday word's classes, or
    a unique partial name.

    ``"hen"`` -> ``[8]``; ``"chicken"`` -> ``[8, 7]`` (hen, cock), not "prairie chicken";
    ``"cat"`` -> the five domestic cats. Raises :class:`UnknownClassError` (with
    suggestions) when nothing fits.
    """
    matches = classes.search(query, limit=len(classes))
    exact = [m.index for m in matches if m.why == "exact"]
    if exact:
        return exact[:1]
    word = _key(query)
    if word in classes.common_words:  # "cat" means the cats, not every class with "cat"
        common = [classes.names.index(n) for n in classes.common_words[word]
                  if n in classes.names]
        if common:
            return common
    return [classes.resolve(query)]


def parse_class_list(text: str, classes: LabelSet | None = None) -> tuple[int, ...]:
    """Comma-separated class queries -> unique indices in order (``"hen, cock"`` -> (8, 7))."""
    classes = classes if classes is not None else imagenet_classes()
    found: list[int] = []
    for part in text.split(","):
        if part.strip():
            found.extend(i for i in classes_for(part.strip(), classes) if i not in found)
    if not found:
        raise UnknownClassError("no class given")
    return tuple(found)


def _key(text: str) -> str:
    return " ".join(text.replace("_", " ").lower().split())


@lru_cache(maxsize=1)
def imagenet_classes() -> LabelSet:
    """The ImageNet-1k classes in torchvision's order (shared by every zoo model)."""
    from torchvision.models import MobileNet_V2_Weights

    return LabelSet(tuple(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]),
                    common_words=COMMON_WORDS, kind=IMAGENET)
