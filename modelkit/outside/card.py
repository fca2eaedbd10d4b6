"""The model card: what FaceScope must know to feed an outside model and read it.

A small JSON (``card.json``) FaceScope writes and a person can read and edit. It
says the format and the model's file, the input (size, layout, channel order and the
normalisation ``x = (pixel - mean) / std * scale``), the crop the model expects, and
which output is which head with the head's classes in order. Age is read one of three
ways (:data:`AGE_READINGS`): a number of years, bins with their ages (the expected
value is the prediction), or FaceScope's age groups. A model may have only some heads.

Class names must be FaceScope's (:data:`modelkit.labels.GENDERS`, a vocabulary of
:data:`modelkit.labels.RACE_VOCABULARIES`, in the model's own order): a card naming a
class FaceScope cannot place is refused when it is checked, not at evaluation.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from modelkit import labels
from modelkit.runfolder import write_json

CARD_FILE = "card.json"
FORMATS = ("onnx", "keras", "savedmodel", "tflite", "adapter", "predictions")
LAYOUTS = ("NHWC", "NCHW")
CHANNEL_ORDERS = ("RGB", "BGR")
CROPS = ("dataset", "aligned")  # the image as the set gives it, or FaceScope's MTCNN crop
AGE_READINGS = ("number", "bins", "groups")


@dataclass(frozen=True)
class HeadOutput:
    """One head of the model: which output holds it and how to read that output."""

    head: str                      # one of labels.HEADS
    output: str                    # the model's output name (or index, as a string)
    classes: tuple[str, ...] = ()  # gender / race: the classes in output order
    age: str | None = None         # age only: one of AGE_READINGS
    bin_ages: tuple[float, ...] = ()  # age read as "bins": each bin's age in years

    def width(self) -> int:
        """How many numbers a face gets in this output (1 for an age in years)."""
        if self.head != "age":
            return len(self.classes)
        return {"number": 1, "bins": len(self.bin_ages), "groups": len(labels.AGE_GROUPS)}[self.age]


@dataclass(frozen=True)
class ModelCard:
    name: str
    format: str
    artifact: str                       # file in the folder, or MODULE:CALLABLE for an adapter
    input_size: tuple[int, int] = (64, 64)  # (height, width)
    layout: str = "NHWC"
    channels: str = "RGB"
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    crop: str = "dataset"
    input_name: str | None = None       # the model's input name, where it has several
    heads: tuple[HeadOutput, ...] = field(default_factory=tuple)
    source: str = ""                    # where the model comes from, its licence

    def check(self) -> ModelCard:
        """Refuse a card FaceScope could not use, naming the field and what is allowed."""
        _one_of("format", self.format, FORMATS)
        _one_of("layout", self.layout, LAYOUTS)
        _one_of("channels", self.channels, CHANNEL_ORDERS)
        _one_of("crop", self.crop, CROPS)
        if len(self.input_size) != 2 or min(self.input_size) < 8:
            raise ValueError(f"model card {self.name!r}: input_size {list(self.input_size)} "
                             "must be [height, width] of at least 8 px")
        if len(self.mean) != 3 or len(self.std) != 3 or not all(self.std) or not self.scale:
            raise ValueError(f"model card {self.name!r}: mean and std need 3 numbers each, "
                             "std and scale non-zero")
        if not self.heads:
            raise ValueError(f"model card {self.name!r} names no head; give at least one of "
                             f"{', '.join(labels.HEADS)}")
        seen = [h.head for h in self.heads]
        if len(set(seen)) != len(seen):
            raise ValueError(f"model card {self.name!r} names a head twice: {seen}")
        for head in self.heads:
            _check_head(self.name, head)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ModelCard:
        """A card from its JSON form; an unknown key is refused, naming it."""
        unknown = set(values) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"model card: unknown key(s) {sorted(unknown)}; "
                             f"the keys are {', '.join(cls.__dataclass_fields__)}")
        heads = []
        for h in values.get("heads", ()):
            extra = set(h) - set(HeadOutput.__dataclass_fields__)
            if extra:
                raise ValueError(f"model card head {h.get('head')!r}: unknown key(s) {sorted(extra)}")
            heads.append(HeadOutput(**{**h, "classes": tuple(h.get("classes", ())),
                                       "bin_ages": tuple(float(a) for a in h.get("bin_ages", ()))}))
        tuples = {k: tuple(values[k]) for k in ("input_size", "mean", "std") if k in values}
        return cls(**{**values, **tuples, "heads": tuple(heads)}).check()

    def with_changes(self, **changes) -> ModelCard:
        return replace(self, **changes).check()


def gender_index(classes: tuple[str, ...]) -> list[int]:
    """For each of FaceScope's genders (``labels.GENDERS`` order), its column in the
    model's classes: the model's own order may differ (dlib's is female, male)."""
    lowered = [c.lower() for c in classes]
    return [lowered.index(g) for g in labels.GENDERS]


def race_vocabulary(classes: tuple[str, ...]) -> str:
    """The name of the race vocabulary (:data:`modelkit.labels.RACE_VOCABULARIES`) the
    model's classes are, in any order: the label mappings take it from there (FairFace's
    seven fold into UTKFace's five)."""
    for name, vocabulary in labels.RACE_VOCABULARIES.items():
        if sorted(classes) == sorted(vocabulary):
            return name
    known = "; ".join(f"{k}: {', '.join(v)}" for k, v in labels.RACE_VOCABULARIES.items())
    raise ValueError(f"race classes {list(classes)} are none of FaceScope's vocabularies "
                     f"({known}); add yours to modelkit.labels.RACE_VOCABULARIES and RACE_MAPPINGS")


def _check_head(card: str, head: HeadOutput) -> None:
    where = f"model card {card!r}, head {head.head!r}"
    _one_of("head", head.head, labels.HEADS)
    if head.head == "gender":
        if sorted(c.lower() for c in head.classes) != sorted(labels.GENDERS):
            raise ValueError(f"{where}: classes {list(head.classes)} must be "
                             f"{' and '.join(labels.GENDERS)}, in the model's order")
    elif head.head == "race":
        if len(head.classes) < 2:
            raise ValueError(f"{where}: give the race classes in the model's order")
        race_vocabulary(head.classes)
    else:
        _one_of("age", head.age, AGE_READINGS)
        if head.age == "bins" and len(head.bin_ages) < 2:
            raise ValueError(f"{where}: age read as bins needs bin_ages (each bin's age)")


def _one_of(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} {value!r} is not one of {', '.join(map(str, allowed))}")


def read_card(folder: str | os.PathLike) -> ModelCard:
    path = Path(folder) / CARD_FILE
    try:
        return ModelCard.from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable model card ({exc})") from exc


def write_card(folder: str | os.PathLike, card: ModelCard) -> Path:
    path = Path(folder) / CARD_FILE
    write_json(path, card.to_dict())
    return path


def is_outside_model(folder: str | os.PathLike) -> bool:
    return (Path(folder) / CARD_FILE).is_file()
