"""The shared model: named heads, masked losses and metrics checked against numpy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from modelkit import labels
from modelkit import model as M
from modelkit import objectives as O

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


def test_each_head_can_have_a_hidden_layer_of_its_own():
    model = M.build_model(backbone="small_cnn", image_size=32, race_classes=RACES, head_hidden=16)
    for head in labels.HEADS:
        hidden = model.get_layer(f"{head}_hidden")
        assert hidden.units == 16 and model.get_layer(head).input.shape[-1] == 16
    assert model.output_names == ["gender", "race", "age"]


def test_a_runs_config_sets_the_dropout_and_the_head_layers():
    from modelkit.config import TrainConfig

    config = TrainConfig(image_size=32, epochs=2, dropout=0.1, head_hidden=8)
    model = M.run_model(config, race_classes=RACES, steps_per_epoch=5)
    assert model.get_layer("dropout").rate == 0.1
    assert model.get_layer("race_hidden").units == 8


def test_the_deep_small_cnn_adds_a_conv_to_the_middle_stages_and_keeps_the_gradcam_layer(shared):
    deep = M.build_model(backbone="small_cnn_deep", image_size=32, race_classes=RACES)
    convs = {m: [layer.name for layer in m.layers if isinstance(layer, keras.layers.Conv2D)]
             for m in (shared, deep)}
    assert len(convs[shared]) == 5
    assert sorted(set(convs[deep]) - set(convs[shared])) == ["stage2_conv2", "stage3_conv2"]
    assert M.last_conv_layer_name(deep) == M.LAST_CONV_NAME
    assert deep.output_names == shared.output_names


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
    ({"weights": "imagenet", "backbone": "small_cnn_deep"}, "small_cnn_deep has no imagenet"),
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
    got = float(O.MaskedSparseCrossentropy()(y, p))
    assert got == pytest.approx(expected, rel=1e-5)
    assert float(O.MaskedSparseCrossentropy()(np.full(6, -1), p)) == 0.0  # no NaN


def test_age_loss_uses_years_then_groups_then_masks():
    rng = np.random.default_rng(1)
    p = softmax_rows(rng, 3, 101)
    # years known (33), only the group known (20-29 = code 3), nothing known.
    y = np.array([[33, 4], [-1, 3], [-1, -1]], dtype="float32")
    year_term = -np.log(p[0, 33])
    group_term = -np.log(p[1, 20:30].sum())
    got = float(O.DexAgeLoss(sigma=0)(y, p))
    assert got == pytest.approx((year_term + group_term) / 2, rel=1e-4)


def test_label_smoothing_spreads_the_target_and_still_masks():
    rng = np.random.default_rng(2)
    p = softmax_rows(rng, 5, 4)
    y = np.array([0, 3, -1, 1, 2])
    labelled = y >= 0
    target = np.full((5, 4), 0.1 / 4)
    target[np.arange(5), np.maximum(y, 0)] += 0.9
    expected = -(target * np.log(p)).sum(axis=1)[labelled].mean()
    got = float(O.MaskedSparseCrossentropy(label_smoothing=0.1)(y, p))
    assert got == pytest.approx(expected, rel=1e-4)


def test_the_age_l1_term_adds_the_expected_ages_error_in_years():
    rng = np.random.default_rng(3)
    p = softmax_rows(rng, 3, 101)
    y = np.array([[33, 4], [-1, 3], [70, 8]], dtype="float32")  # the group-only row: no L1
    error = np.abs(p @ np.arange(101) - y[:, 0])[[0, 2]]
    plain, with_l1 = O.DexAgeLoss(sigma=2)(y, p), O.DexAgeLoss(sigma=2, l1=0.25)(y, p)
    assert float(with_l1) - float(plain) == pytest.approx(0.25 * error.sum() / 3, rel=1e-4)


def test_ema_keeps_the_average_of_the_weights_not_the_last_step():
    """With EMA, ``fit`` ends on the weights averaged over ~100 steps: after 24 steps
    they have hardly left where the first step put them, while the plain run's have."""
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 255, (32, 16, 16, 3)).astype("float32")
    y = {"gender": rng.integers(0, 2, 32), "race": rng.integers(0, len(RACES), 32),
         "age": np.stack([rng.uniform(1, 80, 32), np.full(32, -1.0)], axis=1).astype("float32")}
    moved = {}
    for ema in (False, True):
        keras.utils.set_random_seed(0)
        model = M.build_model(backbone="small_cnn", image_size=16, race_classes=RACES)
        start = model.get_layer("race").get_weights()[0].copy()
        M.compile_model(model, lr=1e-2, ema=ema)
        model.fit(x, y, batch_size=8, epochs=6, verbose=0)
        moved[ema] = np.abs(model.get_layer("race").get_weights()[0] - start).mean()
    # Keras starts the average at the first step's weights; 23 more steps of momentum
    # 0.99 move it less than half as far as the plain weights go (measured: 0.45x).
    assert moved[True] < 0.6 * moved[False], moved


def test_the_weight_average_spans_the_last_100_steps_or_a_tenth_of_a_short_run():
    assert M.ema_momentum(None) == pytest.approx(0.99) == M.ema_momentum(3600)
    assert M.ema_momentum(60) == pytest.approx(1 - 1 / 6)   # the demo: 3 epochs of 20
    assert M.ema_momentum(4) == 0.0                          # shorter: the last step's


def test_batch_norm_statistics_follow_a_short_run_and_keep_keras_momentum_for_a_long_one():
    assert M.batch_norm_momentum(None) == pytest.approx(0.99) == M.batch_norm_momentum(3600)
    assert M.batch_norm_momentum(300) == pytest.approx(0.9)     # 6 epochs of 50 steps
    assert M.batch_norm_momentum(1) == pytest.approx(0.9)       # never under 10 steps
    model = M.build_model(image_size=32, race_classes=["a", "b"], bn_momentum=0.9)
    assert {layer.momentum for layer in model.layers if "_bn" in layer.name} == {0.9}


def test_age_metrics_use_the_expected_age():
    p = np.zeros((3, 101), "float32")
    p[0, [20, 40]] = 0.5   # expected 30 -> group 30-39
    p[1, 64] = 1.0          # 64 -> 60-69
    p[2, 5] = 1.0
    y = np.array([[28, 3], [-1, 7], [-1, -1]], dtype="float32")  # 2nd: group only (60-69)
    mae = O.AgeMAE()
    mae.update_state(y, p)
    assert float(mae.result()) == pytest.approx((2 + abs(64 - 64.5)) / 2)
    acc = O.AgeGroupAccuracy()
    acc.update_state(y, p)
    assert float(acc.result()) == pytest.approx(0.5)  # 30 is not 20-29; 64 is 60-69


def test_masked_accuracy_ignores_missing_labels():
    metric = O.MaskedAccuracy()
    metric.update_state(np.array([1, 0, -1, -1]), np.array([[0, 1], [1, 0], [1, 0], [0, 1]]))
    assert float(metric.result()) == 1.0


def test_compiled_model_reloads_with_custom_objects(shared, tmp_path):
    M.compile_model(shared, lr=1e-3, loss_weights={"race": 0.5}, label_smoothing=0.1, age_l1=0.1)
    path = tmp_path / "m.keras"
    shared.save(path)
    again = keras.saving.load_model(path)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32") * 255
    for a, b in zip(shared.predict(x, verbose=0), again.predict(x, verbose=0), strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert again.loss["race"].label_smoothing == 0.1 and again.loss["age"].l1 == 0.1


def test_unknown_loss_weight_head_is_refused(shared):
    with pytest.raises(ValueError, match="unknown head"):
        M.compile_model(shared, lr=1e-3, loss_weights={"emotion": 1.0})
