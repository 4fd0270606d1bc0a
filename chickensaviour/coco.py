"""The 80 COCO classes the detector knows, and which ImageNet classes fall under them.

The live app protects ImageNet classes (the hunter classifier judges every region); the
COCO detector finds their regions. :func:`coco_for_imagenet` says which COCO classes to
look for: hen and cock are birds, the five domestic cats are a cat, the 118 dog breeds a
dog, a groom or a ballplayer a person.
"""

from __future__ import annotations

from collections.abc import Iterable

from chickensaviour.errors import UnknownClassError

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)

#: Everyday words for COCO classes.
COCO_WORDS: dict[str, str] = {
    "people": "person", "human": "person", "man": "person", "woman": "person",
    "chicken": "bird", "hen": "bird", "rooster": "bird", "duck": "bird",
    "kitten": "cat", "puppy": "dog", "phone": "cell phone", "television": "tv",
    "motorbike": "motorcycle", "bike": "bicycle", "plane": "airplane", "sofa": "couch",
    "table": "dining table", "mug": "cup", "coffee": "cup",
}

# ImageNet index ranges (inclusive) that are instances of a COCO class.
_IMAGENET_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "person": ((981, 983),),  # ballplayer, groom, scuba diver
    "bicycle": ((444, 444), (671, 671)),
    "car": ((436, 436), (468, 468), (511, 511), (609, 609), (627, 627), (656, 656),
            (661, 661), (717, 717), (751, 751), (817, 817)),
    "motorcycle": ((665, 665), (670, 670)),
    "airplane": ((404, 404), (895, 895)),
    "bus": ((654, 654), (779, 779), (874, 874)),
    "train": ((466, 466), (547, 547), (565, 565), (820, 820)),
    "truck": ((555, 555), (569, 569), (675, 675), (734, 734), (864, 864), (867, 867)),
    "boat": ((472, 472), (484, 484), (510, 510), (554, 554), (576, 576), (625, 625),
             (628, 628), (724, 724), (780, 780), (814, 814), (833, 833), (871, 871),
             (914, 914)),
    "bird": ((7, 24), (80, 100), (127, 146)),
    "cat": ((281, 285),),
    "dog": ((151, 268),),
    "horse": ((339, 339), (603, 603)),
    "sheep": ((348, 349),),
    "cow": ((345, 347),),
    "elephant": ((101, 101), (385, 386)),
    "bear": ((294, 297),),
    "zebra": ((340, 340),),
    "backpack": ((414, 414),),
    "umbrella": ((879, 879),),
    "bottle": ((440, 440), (720, 720), (737, 737), (898, 898), (907, 907)),
    "cup": ((504, 504), (967, 968)),
    "banana": ((954, 954),),
    "orange": ((950, 950),),
    "broccoli": ((937, 937),),
    "pizza": ((963, 963),),
    "tv": ((664, 664), (851, 851)),
    "laptop": ((620, 620), (681, 681)),
    "mouse": ((673, 673),),
    "remote": ((761, 761),),
    "keyboard": ((508, 508),),
    "cell phone": ((487, 487),),
    "clock": ((409, 409), (530, 530), (892, 892)),
    "vase": ((883, 883),),
    "teddy bear": ((850, 850),),
}


def coco_index(query: str | int) -> int:
    """The COCO class ``query`` names: an index, a class name or an everyday word."""
    if isinstance(query, int) or query.strip().isdigit():
        index = int(query)
        if not 0 <= index < len(COCO_CLASSES):
            raise UnknownClassError(f"COCO class index {index} out of range 0..79")
        return index
    key = " ".join(query.replace("_", " ").lower().split())
    key = COCO_WORDS.get(key, key)
    if key in COCO_CLASSES:
        return COCO_CLASSES.index(key)
    raise UnknownClassError(
        f"unknown COCO class {query!r}; the detector knows: {', '.join(COCO_CLASSES)}"
    )


def coco_for_imagenet(imagenet: Iterable[int]) -> tuple[int, ...]:
    """The COCO classes that the given ImageNet classes belong to, in first-seen order."""
    found: list[int] = []
    for index in imagenet:
        for name, ranges in _IMAGENET_RANGES.items():
            if any(lo <= index <= hi for lo, hi in ranges):
                coco = COCO_CLASSES.index(name)
                if coco not in found:
                    found.append(coco)
    return tuple(found)
