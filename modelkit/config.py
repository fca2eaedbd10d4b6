"""The one place for FaceScope's vocabularies and training defaults.

Every entry point reads this module: the CLI's argparse choices, defaults and help, the
Train page's form, the Dataset page's plan, the background launcher (which hands a run
its ``config.json`` rather than a command line) and the trainers. It imports no
TensorFlow, so a page or ``--help`` stays fast.

Label vocabularies (genders, age groups, the sources' race classes) live in
:mod:`modelkit.labels`; this module holds the vocabularies of the tool itself.

Example::

    from modelkit.config import TrainConfig
    config = TrainConfig(source="utkface", root="../shared/data/utkface_sample")
    config.save("runs/x/config.json")
    TrainConfig.load("runs/x/config.json") == config          # True
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from modelkit.config_values import TARGET_WORDS as TARGET_WORDS  # re-exported: one vocabulary module
from modelkit.config_values import check_keys, parse_loss_weights, parse_target
from modelkit.labels import HEADS

# ----------------------------------------------------------------------- vocabularies
SOURCES: tuple[str, ...] = ("synthetic", "utkface", "fairface", "imdbwiki", "csv")
SOURCE_TITLES = {"synthetic": "Synthetic faces", "utkface": "UTKFace", "fairface": "FairFace",
                 "imdbwiki": "IMDB-WIKI", "csv": "CSV file"}
# small_cnn_deep: small_cnn with a second conv in its middle stages, for a longer budget.
# dlib_resnet: dlib's pretrained age network (modelkit.pretrained.dlib_resnet).
BACKBONES: tuple[str, ...] = ("small_cnn", "small_cnn_deep", "mobilenet_v3_small",
                              "efficientnet_b0", "inception_resnet_v2", "dlib_resnet")
# The smallest square input each backbone builds at (keras.applications' own minimums).
MIN_IMAGE_SIZE = {"small_cnn": 16, "small_cnn_deep": 16, "mobilenet_v3_small": 32,
                  "efficientnet_b0": 32, "inception_resnet_v2": 75, "dlib_resnet": 32}
# The backbones that keras.applications can start from ImageNet weights (a download).
IMAGENET_BACKBONES: tuple[str, ...] = ("mobilenet_v3_small", "efficientnet_b0", "inception_resnet_v2")
# "none" trains on the split as it is; the others oversample to balance that attribute
# ("joint": the age group × gender × race cells).
BALANCE_MODES: tuple[str, ...] = ("none", "age_group", "gender", "race", "joint")
BALANCE_TITLES = {"none": "no rebalancing", "age_group": "age group", "gender": "gender",
                  "race": "race", "joint": "age × gender × race cells"}
SALIENCY_METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "saliency", "smoothgrad")
# Methods that need only a model's outputs (ONNX, TFLite, adapters: no gradients).
OUTPUT_ONLY_METHODS: tuple[str, ...] = ("occlusion",)
METHOD_TITLES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "saliency": "Saliency",
                 "smoothgrad": "SmoothGrad", "occlusion": "Occlusion"}
HEAD_TITLES = {"gender": "Gender", "race": "Race", "age": "Age"}
ATTRIBUTE_TITLES = {"gender": "Gender", "race": "Race", "age_group": "Age group",
                    "race_source": "Race (the set's own classes)"}
# The largest image a file may declare (width x height) before it is decoded: above it a
# file is refused as a possible decompression bomb (uploads, --image, the image scan).
MAX_PIXELS = 40_000_000               # 40 megapixels (e.g. 8000 x 5000)
IMAGE_SIZES: tuple[int, ...] = (32, 48, 64, 96, 128, 160, 224)
WEIGHTS_WORDS: tuple[str, ...] = ("none", "imagenet")
# The floating-point precision of training; "auto" picks per machine
# (modelkit.precision: bfloat16 where the CPU or GPU has units for it).
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
# An earlier run's model (.keras) or weights (.weights.h5); and for keras.applications
# backbones an ImageNet file as Keras downloads it (.h5; modelkit.pretrained.weights).
WEIGHTS_SUFFIXES: tuple[str, ...] = (".keras", ".weights.h5")
IMAGENET_WEIGHTS_SUFFIX = ".h5"
# What a run's config.json adds to the settings once the trainer resolved them (the
# data's race classes, the heads it trained, images per split, the corrections it
# applied, the multi-worker layout): the only keys beside TrainConfig's fields that a
# config file may hold.
RESOLVED_KEYS: tuple[str, ...] = ("race_classes", "age_is_range", "heads", "n_train", "n_val",
                                  "n_test", "corrections_sha256", "corrections_applied",
                                  "distribution", "provenance", "train_balance",
                                  "precision_used", "precision_reason")


# ------------------------------------------------------------------------ the config
@dataclass
class TrainConfig:
    """Everything a training run needs, and so everything ``config.json`` records.

    The defaults are the CPU recipe chosen on the validation split in docs/BENCHMARKS.md
    section 3.2 (``small_cnn_deep``, batch 32, 18 epochs, weight averaging), which fits the
    15 minutes in bfloat16 (section 18.6: about 10 minutes on 2 cores for the 8,000
    UTKFace faces). ``balance``,
    ``target`` and ``max_repeat`` are the oversampling plan of the train split
    (``modelkit.balance``); the Dataset page previews exactly this plan.
    """

    source: str = "synthetic"
    root: str | None = None
    labels: str | None = None
    backbone: str = "small_cnn_deep"
    image_size: int = 64
    epochs: int = 18
    batch_size: int = 32
    lr: float = 2e-3
    balance: str = "none"
    target: str | int = "max"
    max_repeat: int = 3
    loss_weights: dict[str, float] = field(default_factory=lambda: {h: 1.0 for h in HEADS})
    weights: str = "none"
    limit: int | None = None
    seed: int = 0
    augment: bool = True
    cache: bool = True
    age_sigma: float = 2.0
    # The age loss adds this many times the expected age's error in years (DEX + L1).
    age_l1: float = 0.0
    # Share of the gender and race targets spread over all classes.
    label_smoothing: float = 0.0
    # Keep an average of the weights over the last ~100 steps (Adam's EMA; modelkit.model).
    ema: bool = True
    # Units of each head's own hidden ReLU layer on the shared features (0: none).
    head_hidden: int = 0
    # Dropout rate on the shared features, before the heads.
    dropout: float = 0.3
    progress_every: int = 10
    # A corrections file (modelkit.curation.corrections): its decisions relabel or drop
    # images right after the dataset is loaded; config.json also records its sha256.
    corrections: str | None = None
    # Detect and align each face first (modelkit.data.faces.align), for loosely cropped sets
    # such as FairFace's; images where no usable face is found are skipped.
    align: bool = False
    # auto: bfloat16 on a CPU with AMX/AVX512-BF16 or a GPU of compute capability 8.0+,
    # float16 on an older GPU, float32 otherwise; config.json records what was used.
    precision: str = "auto"
    # A pretrained backbone's transfer recipe (modelkit.pretrained.transfer): the first
    # freeze_epochs train the heads only; then the backbone learns at lr * backbone_lr_scale.
    freeze_epochs: int = 0
    backbone_lr_scale: float = 1.0

    @property
    def pretrained(self) -> bool:
        """Whether the backbone starts from trained weights (dlib's, ImageNet's, a file)."""
        return self.backbone == "dlib_resnet" or self.weights != "none"

    def __post_init__(self) -> None:
        self.validate(files=False)

    def validate(self, *, files: bool = True) -> None:
        """Check every field against its vocabulary, and every check the trainer would
        make on these settings, so a mistake is refused at the door (the Train form,
        ``train``, the launcher) instead of failing later in the queue. The error names
        the field, the value and what is allowed.

        Args:
            files: also check that the weights and corrections files exist. Building a
                config (``__post_init__``) skips it, so a finished run's config.json still
                loads after its files moved; every start of training checks them.
        """
        for name, value, allowed in (("source", self.source, SOURCES),
                                     ("backbone", self.backbone, BACKBONES),
                                     ("balance", self.balance, BALANCE_MODES),
                                     ("precision", self.precision, PRECISIONS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        self.target = parse_target(self.target)
        self.loss_weights = parse_loss_weights(self.loss_weights)
        for name in ("image_size", "epochs", "batch_size", "max_repeat"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if isinstance(self.head_hidden, bool) or not isinstance(self.head_hidden, int) \
                or not 0 <= self.head_hidden <= 4096:
            raise ValueError(f"head_hidden must be an integer from 0 to 4096; got {self.head_hidden!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise ValueError(f"limit must be a positive integer or None; got {self.limit!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a positive number; got {self.lr!r}")
        if self.corrections is not None and (not isinstance(self.corrections, str)
                                             or not self.corrections.strip()):
            raise ValueError("corrections must be the path of a corrections file or None; "
                             f"got {self.corrections!r}")
        self._check_backbone()
        if files:
            self._check_files()
        for name in ("align", "ema"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false; got {getattr(self, name)!r}")
        for name, top in (("age_sigma", 50.0), ("age_l1", 10.0), ("label_smoothing", 0.5),
                          ("dropout", 0.9)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
                raise ValueError(f"{name} must be a number from 0 to {top:g}; got {value!r}")

    def _check_backbone(self) -> None:
        smallest = MIN_IMAGE_SIZE[self.backbone]
        if self.image_size < smallest:
            raise ValueError(f"image_size {self.image_size} is too small for backbone "
                             f"{self.backbone}; use at least {smallest} (e.g. --image-size "
                             f"{max(smallest, 96)})")
        if not isinstance(self.weights, str) or not self.weights.strip():
            raise ValueError(f"weights must be {' or '.join(WEIGHTS_WORDS)} or a weights file; "
                             f"got {self.weights!r}")
        if self.weights == "imagenet" and self.backbone not in IMAGENET_BACKBONES:
            raise ValueError(f"backbone {self.backbone} has no imagenet weights; use weights "
                             f"none, or one of {', '.join(IMAGENET_BACKBONES)}")
        suffixes = WEIGHTS_SUFFIXES + ((IMAGENET_WEIGHTS_SUFFIX,)
                                       if self.backbone in IMAGENET_BACKBONES else ())
        if self.weights not in WEIGHTS_WORDS and not self.weights.endswith(suffixes):
            raise ValueError(f"weights {self.weights!r} must be {' or '.join(WEIGHTS_WORDS)} or "
                             f"a {' / '.join(WEIGHTS_SUFFIXES)} file (an ImageNet .h5 file is "
                             f"for {', '.join(IMAGENET_BACKBONES)})")
        if isinstance(self.freeze_epochs, bool) or not isinstance(self.freeze_epochs, int) \
                or not 0 <= self.freeze_epochs <= self.epochs:
            raise ValueError(f"freeze_epochs must be an integer from 0 to epochs ({self.epochs}); "
                             f"got {self.freeze_epochs!r}")
        if self.freeze_epochs and not self.pretrained:
            raise ValueError(f"freeze_epochs needs a pretrained backbone (dlib_resnet, or "
                             f"weights other than none); {self.backbone} would start random")
        if isinstance(self.backbone_lr_scale, bool) or not isinstance(
                self.backbone_lr_scale, (int, float)) or not 0 < self.backbone_lr_scale <= 1:
            raise ValueError("backbone_lr_scale must be a number above 0 and at most 1; "
                             f"got {self.backbone_lr_scale!r}")

    def _check_files(self) -> None:
        for name, value in (("weights", None if self.weights in WEIGHTS_WORDS else self.weights),
                            ("corrections", self.corrections)):
            if value and not Path(value).expanduser().is_file():
                raise ValueError(f"{name} file {value} not found (resolved from "
                                 f"{Path.cwd()}): give the path of an existing file")

    # ------------------------------------------------------------------ round trips
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: dict, *, resolved: bool = True) -> TrainConfig:
        """From a dict such as a run's config.json.

        Args:
            resolved: allow the keys a trainer adds to config.json (``RESOLVED_KEYS``),
                which are dropped; any other unknown key is refused.

        Raises:
            ValueError: an unknown key (named, with the nearest setting), or a value
                the config refuses.
        """
        names = cls.field_names()
        check_keys(values, allowed=names + (RESOLVED_KEYS if resolved else ()))
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold one JSON object of train settings")
        return cls.from_dict(values)

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    def with_absolute_paths(self) -> TrainConfig:
        """Dataset and weight paths made absolute, so the config reproduces the run from
        any working directory (the launcher, a later resume)."""
        def absolute(value):
            return str(Path(value).expanduser().resolve()) if value else value
        weights = self.weights if self.weights in WEIGHTS_WORDS else absolute(self.weights)
        return dataclasses.replace(self, root=absolute(self.root), labels=absolute(self.labels),
                                   weights=weights, corrections=absolute(self.corrections))

    def differences(self, other: TrainConfig) -> dict[str, tuple]:
        """The settings that differ: ``{name: (self's, other's)}``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}


DEFAULTS = TrainConfig()
