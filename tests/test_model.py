"""The shared model: named heads, masked losses and metrics checked against numpy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from modelkit import labels
from modelkit import model as M

RACES = list(labels.UTKFACE_RACES)


@pytest.fixture(scope="module")
def shared():
    return M.build_model(backbone="small_cnn", image_size=32, race_classes=RACES)


def test_inputs_and_named_outputs_in_contract_order(shared):
    assert shared.inputs[0].name.startswith("image") and shared.inputs[0].shape[1:] == (32, 32, 3)
    assert list(shared.output_names) == ["gender", "race", "age"]
    out = shared.predict(np.full((2, 32, 32, 3), 128, "float32"), verbose=0)
    assert [o.shape for o in out] == [(2, 2), (2, 5), (2, 101)]
    np.testing.assert_allclose([o.sum(axis=1) for o in out], 1.0, rtol=1e-5)


def test_last_conv_layer_is_the_backbones_last_feature_map(shared):
    name = M.last_conv_layer_name(shared)
    assert name == M.LAST_CONV_NAME
    assert len(shared.get_layer(name).output.shape) == 4


@pytest.mark.slow
def test_application_backbones_expose_their_layers_for_gradcam():
    model = M.build_model(backbone="mobilenet_v3_small", image_size=32, race_classes=RACES)
    name = M.last_conv_layer_name(model)
    assert len(model.get_layer(name).output.shape) == 4  # reachable from the top model


def test_shared_model_has_far_fewer_parameters_than_three_single_task_models(shared):
    singles = [M.build_single_task_model(h, backbone="small_cnn", image_size=32,
                                         race_classes=RACES) for h in labels.HEADS]
    assert [s.output_names for s in singles] == [["gender"], ["race"], ["age"]]
    assert shared.count_params() < 0.4 * sum(s.count_params() for s in singles)


@pytest.mark.parametrize("kwargs, error", [
    ({"backbone": "resnet"}, "unknown backbone 'resnet'"),
    ({"image_size": 40, "backbone": "inception_resnet_v2"}, "at least 75"),
    ({"race_classes": []}, "race_classes is empty"),
    ({"weights": "imagenet"}, "small_cnn has no imagenet weights"),
    ({"weights": "/nope/model.keras"}, "weights file /nope/model.keras not found"),
])
def test_bad_arguments_are_named(kwargs, error):
    args = {"backbone": "small_cnn", "image_size": 32, "race_classes": RACES} | kwargs
    with pytest.raises((ValueError, FileNotFoundError), match=error):
        M.build_model(**args)


def softmax_rows(rng, n, k):
    p = rng.random((n, k)) + 0.05
    return (p / p.sum(axis=1, keepdims=True)).astype("float32")


def test_masked_crossentropy_averages_over_labelled_images_only():
    rng = np.random.default_rng(0)
    p = softmax_rows(rng, 6, 3)
    y = np.array([0, 2, -1, 1, -1, 2])
    labelled = y >= 0
    expected = -np.log(p[labelled, y[labelled]]).mean()
    got = float(M.MaskedSparseCrossentropy()(y, p))
    assert got == pytest.approx(expected, rel=1e-5)
    assert float(M.MaskedSparseCrossentropy()(np.full(6, -1), p)) == 0.0  # no NaN


def test_age_loss_uses_years_then_groups_then_masks():
    rng = np.random.default_rng(1)
    p = softmax_rows(rng, 3, 101)
    # years known (33), only the group known (20-29 = code 3), nothing known.
    y = np.array([[33, 4], [-1, 3], [-1, -1]], dtype="float32")
    year_term = -np.log(p[0, 33])
    group_term = -np.log(p[1, 20:30].sum())
    got = float(M.DexAgeLoss(sigma=0)(y, p))
    assert got == pytest.approx((year_term + group_term) / 2, rel=1e-4)


def test_age_metrics_use_the_expected_age():
    p = np.zeros((3, 101), "float32")
    p[0, [20, 40]] = 0.5   # expected 30 -> group 30-39
    p[1, 64] = 1.0          # 64 -> 60-69
    p[2, 5] = 1.0
    y = np.array([[28, 3], [-1, 7], [-1, -1]], dtype="float32")  # 2nd: group only (60-69)
    mae = M.AgeMAE()
    mae.update_state(y, p)
    assert float(mae.result()) == pytest.approx((2 + abs(64 - 64.5)) / 2)
    acc = M.AgeGroupAccuracy()
    acc.update_state(y, p)
    assert float(acc.result()) == pytest.approx(0.5)  # 30 is not 20-29; 64 is 60-69


def test_masked_accuracy_ignores_missing_labels():
    metric = M.MaskedAccuracy()
    metric.update_state(np.array([1, 0, -1, -1]), np.array([[0, 1], [1, 0], [1, 0], [0, 1]]))
    assert float(metric.result()) == 1.0


def test_compiled_model_reloads_with_custom_objects(shared, tmp_path):
    M.compile_model(shared, lr=1e-3, loss_weights={"race": 0.5})
    path = tmp_path / "m.keras"
    shared.save(path)
    again = keras.saving.load_model(path)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32") * 255
    for a, b in zip(shared.predict(x, verbose=0), again.predict(x, verbose=0), strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_unknown_loss_weight_head_is_refused(shared):
    with pytest.raises(ValueError, match="unknown head"):
        M.compile_model(shared, lr=1e-3, loss_weights={"emotion": 1.0})
