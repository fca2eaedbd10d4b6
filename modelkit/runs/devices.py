"""Which device a training run will use: a quick answer and an exact one.

The quick answer asks ``nvidia-smi`` (milliseconds, but it does not prove TensorFlow
can use the GPU). Both say which precision ``--precision auto`` would pick there
(``modelkit.precision``). The exact answer asks TensorFlow itself, in a subprocess: importing
TensorFlow takes seconds and a Streamlit page must not do it in its own process.
"""

from __future__ import annotations

import json
import subprocess
import sys

from modelkit.precision import CPU_FLOAT32_BACKBONES, choose_precision, cpu_flags

_TF_DEVICES = ("import json, tensorflow as tf; print(json.dumps([tf.config.experimental."
               "get_device_details(d).get('device_name', d.name) for d in "
               "tf.config.list_physical_devices('GPU')]))")


def _ask_tensorflow(timeout: float) -> list[str] | None:
    """GPU names TensorFlow sees (possibly none), or None when it could not be asked."""
    try:
        out = subprocess.run([sys.executable, "-c", _TF_DEVICES], capture_output=True,
                             text=True, timeout=timeout)
        return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None


def _ask_nvidia_smi(field: str = "name") -> list[str]:
    """One ``--query-gpu`` field per GPU nvidia-smi lists; none when it is missing or
    fails (an older nvidia-smi knows no ``compute_cap``)."""
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [n.strip() for n in out.stdout.splitlines() if n.strip()] if out.returncode == 0 else []


def auto_precision(kind: str) -> dict:
    """``{"name", "reason", "exceptions"}``: what ``--precision auto`` picks on this
    machine's ``kind`` of device (a GPU's compute capability from nvidia-smi; unknown:
    its rule), and the backbones for which it picks otherwise."""
    gpus = []
    if kind == "GPU":
        for cap in _ask_nvidia_smi("compute_cap"):
            major, _, minor = cap.partition(".")
            if major.isdigit() and minor.isdigit():
                gpus.append((int(major), int(minor)))
        if not gpus:
            return {"name": "bfloat16 or float16",
                    "reason": "auto: bfloat16 on a GPU of compute capability 8.0 or newer, "
                              "float16 on an older one (train.log says which)",
                    "exceptions": ""}
    flags = cpu_flags()
    chosen = choose_precision("auto", gpus=gpus, flags=flags)
    exceptions = sorted(b for b in CPU_FLOAT32_BACKBONES if choose_precision(
        "auto", gpus=gpus, flags=flags, backbone=b).name != chosen.name)
    said = (f"For {' and '.join(exceptions)} it picks float32: their depthwise convolutions "
            "train slower in bfloat16 on a CPU." if exceptions else "")
    return {"name": chosen.name, "reason": chosen.reason, "exceptions": said}


def detect_devices(*, use_tensorflow: bool = False, timeout: float = 120.0) -> dict:
    """``{"kind": "GPU"|"CPU"|"unknown", "names": [...], "how": ..., "note": ...}``.

    Args:
        use_tensorflow: ask TensorFlow in a subprocess (exact, seconds) instead of
            nvidia-smi (quick).
        timeout: seconds to wait for TensorFlow.
    """
    if use_tensorflow:
        names = _ask_tensorflow(timeout)
        if names is None:
            return {"kind": "unknown", "names": [], "how": "tensorflow",
                    "note": "TensorFlow could not be asked which devices it sees."}
        if names:
            return {"kind": "GPU", "names": names, "how": "tensorflow",
                    "note": "TensorFlow sees these GPUs; a run uses them all."}
        return {"kind": "CPU", "names": [], "how": "tensorflow",
                "note": "TensorFlow sees no GPU: training runs on the CPU (slow beyond "
                        "small images and the small_cnn backbones)."}
    names = _ask_nvidia_smi()
    if names:
        return {"kind": "GPU", "names": names, "how": "nvidia-smi",
                "note": "found by nvidia-smi; TensorFlow uses it when built with CUDA."}
    return {"kind": "CPU", "names": [], "how": "nvidia-smi",
            "note": "no NVIDIA GPU found: training runs on the CPU (fine for small images "
                    "and small_cnn)."}
