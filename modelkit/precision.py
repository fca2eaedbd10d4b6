"""Which floating-point precision a run trains in, and why (``TrainConfig.precision``).

``auto`` (the default) picks from the machine:

- **bfloat16** on a CPU with AMX or AVX512-BF16, whose matrix units oneDNN uses for
  bfloat16 convolutions and matmuls, and on a GPU of compute capability 8.0 or newer;
- **float16** on an older GPU (its tensor cores; Keras then scales the loss);
- **float32** otherwise: without those units a 16-bit type is emulated, and slower;
  and on the CPU for the depthwise backbones (``CPU_FLOAT32_BACKBONES``), whose
  bfloat16 steps ran at 0.62-0.71x of float32 on a Zen 4 CPU (docs/BENCHMARKS.md §18).

bfloat16 and float16 are Keras' *mixed* policies: the variables stay float32, the
layers compute in 16 bits, and the heads' softmaxes (``dtype="float32"`` in
``modelkit.model``) and so the losses stay float32. The model a run saves is
rebuilt in float32 with the trained weights (:func:`float32_model`): a mixed policy
is how the run trained, not what it hands on, so ``predict``, saliency and export see
the same float32 model whatever the run trained in, on any machine.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from modelkit.config import PRECISIONS

# Keras' policy per precision.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# /proc/cpuinfo flags of the units that run bfloat16 natively (Intel AMX; AVX512-BF16
# on Intel Cooper Lake and later, AMD Zen 4 and later).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# The first GPU generation with bfloat16 tensor cores (Ampere).
BF16_GPU_CAPABILITY = (8, 0)
# Backbones built on depthwise convolutions: oneDNN runs those slower in bfloat16 than
# in float32 on the CPU, so ``auto`` keeps them in float32 there.
CPU_FLOAT32_BACKBONES = ("mobilenet_v3_small", "efficientnet_b0")


@dataclass(frozen=True)
class Precision:
    """The precision a run uses: ``name`` (one of float32, bfloat16, float16) and the
    sentence that says why, for train.log, config.json and the Train page."""

    name: str
    reason: str

    @property
    def policy(self) -> str:
        return POLICIES[self.name]

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (Linux's ``/proc/cpuinfo``); empty where it cannot be
    read (another OS), which ``auto`` then treats as a CPU without bfloat16 units."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each visible GPU ((0, 0) where TensorFlow does not say)."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append(tuple(details.get("compute_capability") or (0, 0)))
    return found


def choose_precision(requested: str, *, gpus: list[tuple[int, int]],
                     flags: frozenset[str], backbone: str | None = None) -> Precision:
    """The precision for ``requested`` (``auto`` or a precision) on a machine with
    ``gpus`` (their compute capabilities; empty: the CPU trains) and CPU ``flags``,
    for ``backbone`` (None: the machine's rule, whatever the backbone).

    Raises:
        ValueError: ``requested`` is not one of ``PRECISIONS``.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {requested!r}")
    device = "GPU" if gpus else "CPU"
    if requested != "auto":
        return Precision(requested, f"asked for {requested} (on the {device})")
    if gpus:
        oldest = min(gpus)
        shown = ".".join(map(str, oldest))
        if oldest >= BF16_GPU_CAPABILITY:
            return Precision("bfloat16", f"auto: GPU compute capability {shown} has "
                                         "bfloat16 tensor cores")
        return Precision("float16", f"auto: GPU compute capability {shown} is older than "
                                    "8.0, so float16 tensor cores (with loss scaling)")
    units = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if units and backbone in CPU_FLOAT32_BACKBONES:
        return Precision("float32", f"auto: {backbone}'s depthwise convolutions train "
                                    "slower in bfloat16 than in float32 on a CPU")
    if units:
        return Precision("bfloat16", f"auto: this CPU has {' and '.join(units)}, which "
                                     "oneDNN uses for bfloat16 convolutions and matmuls")
    return Precision("float32", "auto: this CPU has neither amx_bf16 nor avx512_bf16, "
                                "so 16-bit types would be emulated")


def set_precision(requested: str, backbone: str | None = None) -> Precision:
    """Choose the precision for this machine and ``backbone`` and make it Keras'
    global policy (build the model after this)."""
    import keras

    chosen = choose_precision(requested, gpus=gpu_capabilities(), flags=cpu_flags(),
                              backbone=backbone)
    keras.mixed_precision.set_global_policy(chosen.policy)
    return chosen


@contextmanager
def restored_policy():
    """Inside, a trainer may set any global policy; on exit the one before is back, so
    a process that trains (a test, a notebook) builds float32 models afterwards."""
    import keras

    before = keras.mixed_precision.global_policy()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def float32_model(model):
    """``model`` rebuilt with every layer in float32 and the same weights: what a run
    saves, so the file loads and predicts the same under any policy. A float32 model
    is returned as it is.

    Mixed policies keep their variables in float32, so the weights copy exactly.
    """
    config = model.get_config()
    if not _to_float32(config):
        return model
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def _to_float32(node) -> bool:
    """Replace every mixed dtype policy in a layer config tree by float32, in place;
    return whether there was one."""
    changed = False
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "dtype" and isinstance(value, str) and value.startswith("mixed_"):
                node[key], changed = "float32", True
            elif (isinstance(value, dict) and value.get("class_name") == "DTypePolicy"
                  and str(value.get("config", {}).get("name", "")).startswith("mixed_")):
                value["config"]["name"], changed = "float32", True
            else:
                changed |= _to_float32(value)
    elif isinstance(node, list):
        for value in node:
            changed |= _to_float32(value)
    return changed
