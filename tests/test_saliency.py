"""Saliency maps: the tensor explained is the pipeline's, shape and range, following the
evidence, every head/method/backbone, the CLI. Tiny models and 32-px images throughout."""

from __future__ import annotations

import json
import warnings

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from modelkit import labels, saliency, uploads
from modelkit.__main__ import main
from modelkit.config import SALIENCY_METHODS
from modelkit.data import decode, load_dataset
from modelkit.model import build_model
from modelkit.pipeline import make_dataset

SIZE = 32
RACES = list(labels.UTKFACE_RACES)


def tiny_model(*, size: int = SIZE, seed: int = 0, dead_input: bool = False) -> keras.Model:
    """A three-head functional model shaped like the project's (raw 0..255 ``image``
    in, softmax ``gender``/``race``/``age`` out). ``dead_input`` multiplies the image by
    zero, so no output depends on it (every gradient is 0)."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(0.0 if dead_input else 1 / 255)(image)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    features = keras.layers.GlobalMaxPooling2D()(x)
    outputs = [keras.layers.Dense(n, activation="softmax", name=name)(features)
               for name, n in (("gender", 2), ("race", len(RACES)), ("age", 101))]
    return keras.Model(image, outputs, name="tiny")


def random_faces(n: int, *, size: int = SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


QUADRANTS = ((0, 0), (0, 1), (1, 0), (1, 1))
RED, GREEN = (230.0, 0.0, 0.0), (0.0, 230.0, 0.0)


def patch_faces(quadrants: list[int | None], *, evidence=RED, distractor=GREEN,
                seed: int = 0) -> np.ndarray:
    """Dim noisy 32-px images, each with a distractor 8-px square (in every image) and,
    when a quadrant is given, an evidence square of another colour there. The
    distractor sits diagonally opposite the evidence (anywhere when there is none) and
    is as bright, so a map that merely follows brightness or one colour cannot pass for
    both colour assignments."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 60, (len(quadrants), SIZE, SIZE, 3)).astype(np.float32)
    for image, quadrant in zip(images, quadrants, strict=True):
        other = int(rng.integers(0, 4)) if quadrant is None else 3 - quadrant
        _square(image, other, distractor, rng)
        if quadrant is not None:
            _square(image, quadrant, evidence, rng)
    return images


def _square(image: np.ndarray, quadrant: int, colour, rng) -> None:
    half = SIZE // 2
    row, col = QUADRANTS[quadrant]
    top = row * half + rng.integers(2, half - 10)
    left = col * half + rng.integers(2, half - 10)
    image[top:top + 8, left:left + 8] = colour


def quadrant_mass(heatmap: np.ndarray) -> np.ndarray:
    half = heatmap.shape[0] // 2
    return np.array([heatmap[r * half:(r + 1) * half, c * half:(c + 1) * half].sum()
                     for r, c in QUADRANTS])


@pytest.fixture(scope="module", params=["red", "green"])
def patch_task(request):
    """A model trained until right on: gender 'female' (1) iff the evidence square is
    present, wherever it is. Run once with red as the evidence (green distracting) and
    once the other way round. Race and age get constant targets (not under test)."""
    colours = {"evidence": RED, "distractor": GREEN} if request.param == "red" else \
        {"evidence": GREEN, "distractor": RED}
    rng = np.random.default_rng(1)
    quadrants = [int(q) if q < 4 else None for q in rng.integers(0, 8, 320)]
    images = patch_faces(quadrants, seed=1, **colours)
    gender = np.array([0 if q is None else 1 for q in quadrants])
    model = tiny_model(seed=1)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss={"gender": "sparse_categorical_crossentropy",
                        "race": "sparse_categorical_crossentropy",
                        "age": "sparse_categorical_crossentropy"},
                  loss_weights={"gender": 1.0, "race": 0.0, "age": 0.0})
    targets = {"gender": gender, "race": np.zeros(len(gender)), "age": np.full(len(gender), 30)}
    check = patch_faces([0, 1, 2, 3, None, None], seed=7, **colours)
    for _ in range(8):
        model.fit(images, targets, epochs=2, batch_size=32, verbose=0)
        predicted = np.argmax(model.predict(check, verbose=0)[0], axis=-1)
        if predicted.tolist() == [1, 1, 1, 1, 0, 0]:
            return model, colours
    pytest.fail(f"the patch task did not train: predictions {predicted.tolist()}")


# ---------------------------------------------------------------- the pixels explained

# (file name, PIL mode, (width, height)): odd sizes, one at the model's size, and two
# formats TensorFlow cannot read as is (the scan converts them; so must saliency).
FACE_FILES = [
    ("rgb.jpg", "RGB", (50, 37)),
    ("large.jpg", "RGB", (140, 100)),  # >= 2x SIZE: decoded at half size by DCT scaling
    ("grey.png", "L", (41, 60)),
    ("rgba.png", "RGBA", (SIZE, SIZE)),
    ("grey16.png", "I;16", (45, 45)),
    ("cmyk.jpg", "CMYK", (64, 48)),
    ("photo.tif", "RGB", (70, 40)),
    ("palette.bmp", "P", (33, 20)),
]


def write_faces(folder) -> list:
    """The FACE_FILES as random-pixel images, and a labels.csv listing them in order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    paths = []
    for name, mode, (width, height) in FACE_FILES:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        if mode == "I;16":
            image = Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
        elif mode != "RGB":
            image = image.convert(mode)
        image.save(folder / name)
        paths.append(folder / name)
    pd.DataFrame({"path": [p.name for p in paths], "age": 30, "gender": "female",
                  "race": "Asian", "split": "test"}).to_csv(folder / "labels.csv", index=False)
    return paths


def pipeline_images(manifest, *, cache: bool) -> np.ndarray:
    """What the real tf.data pipeline feeds the model for the manifest's rows, in order."""
    dataset = make_dataset(manifest, split=None, image_size=SIZE, batch_size=3,
                           race_classes=RACES, training=False, cache=cache)
    return np.concatenate([images.numpy() for images, _ in dataset])


def test_saliency_explains_the_tensor_the_pipeline_feeds_the_model(tmp_path):
    originals = write_faces(tmp_path / "faces")
    manifest = load_dataset("csv", labels=tmp_path / "faces" / "labels.csv").manifest
    assert len(manifest) == len(originals)
    for path, original in zip(manifest["path"], originals, strict=True):  # same order; odd formats converted
        assert (path == str(original)) == (original.suffix not in (".tif", ".bmp"))
    fed = pipeline_images(manifest, cache=False)
    np.testing.assert_array_equal(pipeline_images(manifest, cache=True), fed)
    assert fed.dtype == np.float32 and fed.shape == (len(originals), SIZE, SIZE, 3)
    assert fed.min() >= 0 and fed.max() <= 255 and np.array_equal(fed, np.round(fed))

    # The files saliency loads (group averages, notebooks) ...
    np.testing.assert_array_equal(saliency.load_images(originals, size=SIZE), fed)
    model = tiny_model()
    for i, original in enumerate(originals):
        # ... a file's model input handed to explain (the Explain page) ...
        result = saliency.explain_detailed(model, decode.decode_file(original, image_size=SIZE),
                                           head="gender", method="saliency")
        assert result.inputs.dtype == np.float32
        np.testing.assert_array_equal(result.inputs[0], fed[i], err_msg=original.name)
        full = decode.decode_file(original)
        if decode.jpeg_ratio(*full.shape[:2], target=SIZE) == 1 or original.suffix != ".jpg":
            # ... or the file decoded at its own size (the same pixels unless a large
            # JPEG's DCT-scaled decode applies, which only the file's bytes allow) ...
            result = saliency.explain_detailed(model, full, head="gender", method="saliency")
            np.testing.assert_array_equal(result.inputs[0], fed[i], err_msg=original.name)
            assert result.maps.shape[1:] == full.shape[:2]
            if original.suffix.lstrip(".") in uploads.ALLOWED_TYPES:
                upload = uploads.decode_image_file(original)
                np.testing.assert_array_equal(saliency.model_inputs(model, upload)[0], fed[i])
        # ... and an upload of it (no EXIF here, so the same pixels): all the pipeline's.
        if original.suffix.lstrip(".") in uploads.ALLOWED_TYPES:
            np.testing.assert_array_equal(
                uploads.decode_image_file(original, image_size=SIZE), fed[i])


# ---------------------------------------------------------------- shape, range, contract

@pytest.mark.parametrize("method", SALIENCY_METHODS)
def test_map_has_the_image_shape_and_values_in_unit_range(method):
    model = tiny_model()
    images = random_faces(3, size=48)  # not the model's size: maps come back at 48 px
    maps = saliency.explain(model, images, head="gender", method=method)
    assert maps.shape == (3, 48, 48)
    assert maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    for heatmap in maps:
        assert heatmap.max() - heatmap.min() > 0.5  # normalised, not constant


def test_single_image_gives_one_map():
    maps = saliency.explain(tiny_model(), random_faces(1)[0], head="race", method="saliency")
    assert maps.shape == (1, SIZE, SIZE)


def test_a_model_blind_to_the_image_gives_zero_maps_and_says_so():
    model = tiny_model(dead_input=True)
    with pytest.warns(saliency.ConstantMapWarning, match="no gradient"):
        result = saliency.explain_detailed(model, random_faces(2), head="gender",
                                           method="saliency")
    assert result.constant.tolist() == [True, True]
    assert np.all(result.maps == 0.0)
    assert np.isfinite(result.maps).all()


def test_predicted_class_is_explained_by_default_and_reported():
    model = tiny_model()
    images = random_faces(4)
    result = saliency.explain_detailed(model, images, head="race")
    predicted = np.argmax(model.predict(images, verbose=0)[1], axis=-1)
    assert result.class_indices.tolist() == predicted.tolist()
    chosen = saliency.explain_detailed(model, images, head="race", class_index=2)
    assert chosen.class_indices.tolist() == [2, 2, 2, 2]


def test_age_explains_expected_age_or_an_age_group():
    model = tiny_model()
    images = random_faces(2)
    expected = saliency.explain_detailed(model, images, head="age", method="saliency")
    assert expected.class_indices.tolist() == [-1, -1]
    group = saliency.explain_detailed(model, images, head="age", method="saliency",
                                      class_index=labels.AGE_GROUPS.index("20-29"))
    assert not np.allclose(expected.maps, group.maps)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"head": "mood"}, "unknown head 'mood'"),
    ({"head": "gender", "method": "lime"}, "unknown method 'lime'"),
    ({"head": "gender", "class_index": 2}, "out of range for the gender head"),
    ({"head": "age", "class_index": 9}, "out of range for the age head"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        saliency.explain(tiny_model(), random_faces(1), **kwargs)


def test_unknown_class_name_lists_the_classes():
    with pytest.raises(ValueError, match="classes: White, Black, Asian, Indian, Others"):
        saliency.class_index_for({"race_classes": RACES}, "race", "Martian")
    assert saliency.class_index_for({"race_classes": RACES}, "race", "Asian") == 2
    assert saliency.class_index_for({}, "gender", None) is None


def test_average_map_is_the_mean_of_the_maps_on_one_scale():
    model = tiny_model()
    images = random_faces(5)
    maps = saliency.explain(model, images, head="gender", method="gradcam")
    mean = saliency.average_map(model, images, head="gender", method="gradcam", batch_size=2)
    np.testing.assert_allclose(mean, maps.mean(axis=0), atol=1e-5)


def test_last_conv_layer_is_the_last_feature_map():
    assert saliency.find_last_conv_layer(tiny_model()) == "conv2"
    flat = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no convolutional feature map"):
        saliency.find_last_conv_layer(flat)


# ---------------------------------------------------------------- the evidence

@pytest.mark.parametrize("method", SALIENCY_METHODS)
def test_map_follows_the_moving_patch(patch_task, method):
    model, colours = patch_task
    images = patch_faces([0, 1, 2, 3], seed=11, **colours)
    maps = saliency.explain(model, images, head="gender", class_index=1, method=method)
    for quadrant, heatmap in enumerate(maps):
        mass = quadrant_mass(heatmap)
        assert np.argmax(mass) == quadrant, (method, quadrant, mass)
        peak_row, peak_col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        assert (peak_row // (SIZE // 2), peak_col // (SIZE // 2)) == QUADRANTS[quadrant]


# ---------------------------------------------------------------- drawing

def test_colorize_runs_blue_to_red():
    colours = saliency.colorize(np.array([[0.0, 0.5, 1.0]]))
    assert colours.dtype == np.uint8 and colours.shape == (1, 3, 3)
    low, mid, high = colours[0].astype(int)
    assert low[2] > 100 and low[0] == 0          # blue
    assert mid[1] == 255                         # green in the middle
    assert high[0] > 100 and high[2] == 0        # red


def test_overlay_blends_and_resizes_the_map():
    image = np.full((40, 30, 3), 200, np.uint8)
    heatmap = np.linspace(0, 1, 16 * 16, dtype=np.float32).reshape(16, 16)
    assert np.array_equal(saliency.overlay(image, heatmap, alpha=0.0), image)
    full = saliency.overlay(image, heatmap, alpha=1.0)
    assert full.shape == (40, 30, 3) and full.dtype == np.uint8
    half = saliency.overlay(image, heatmap, alpha=0.5).astype(int)
    np.testing.assert_allclose(half, (image.astype(int) + full) / 2, atol=1)
    with pytest.raises(ValueError, match="alpha must lie in"):
        saliency.overlay(image, heatmap, alpha=1.5)


# ---------------------------------------------------------------- runs and the CLI

def save_tiny_run(run_dir, *, model=None) -> None:
    """A run folder the loader accepts: model.keras and config.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (model or tiny_model()).save(run_dir / "model.keras")
    (run_dir / "config.json").write_text(json.dumps(
        {"backbone": "tiny", "image_size": SIZE, "race_classes": RACES}))


def test_load_run_model_round_trips_and_names_a_missing_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.keras"):
        saliency.load_run_model(tmp_path)
    model = tiny_model()
    save_tiny_run(tmp_path, model=model)
    loaded = saliency.load_run_model(tmp_path)
    images = random_faces(2)
    np.testing.assert_allclose(saliency.explain(loaded, images, head="gender"),
                               saliency.explain(model, images, head="gender"), atol=1e-4)


def test_cli_writes_an_overlay_at_the_image_size(tmp_path, capsys):
    from PIL import Image

    save_tiny_run(tmp_path / "run")
    Image.fromarray(random_faces(1, size=50)[0].astype(np.uint8)).save(tmp_path / "face.png")
    out = tmp_path / "maps" / "race.png"
    code = main(["saliency", "--run-dir", str(tmp_path / "run"), "--image",
                 str(tmp_path / "face.png"), "--head", "race", "--class", "Asian",
                 "--method", "gradcam++", "--out", str(out)])
    assert code == 0
    with Image.open(out) as written:
        assert written.size == (50, 50) and written.mode == "RGB"
    assert "'Asian'" in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "message"), [
    (["--head", "race", "--class", "Martian"], "unknown class 'Martian' for the race head; "
                                                "classes: White, Black, Asian, Indian, Others"),
    (["--head", "gender", "--out-of-band"], None),
])
def test_cli_errors_are_one_line(tmp_path, capsys, extra, message):
    from PIL import Image

    save_tiny_run(tmp_path / "run")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "face.png")
    argv = ["saliency", "--run-dir", str(tmp_path / "run"), "--image",
            str(tmp_path / "face.png"), "--out", str(tmp_path / "o.png"), *extra]
    if message is None:
        with pytest.raises(SystemExit):  # argparse rejects unknown flags itself
            main(argv)
        return
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {message}"
    assert not (tmp_path / "o.png").exists()


def test_cli_refuses_a_file_that_is_not_an_image(tmp_path, capsys):
    save_tiny_run(tmp_path / "run")
    (tmp_path / "face.png").write_text("hello")
    assert main(["saliency", "--run-dir", str(tmp_path / "run"), "--image",
                 str(tmp_path / "face.png"), "--head", "gender",
                 "--out", str(tmp_path / "o.png")]) == 2
    assert "face.png: not a readable image" in capsys.readouterr().err


# ---------------------------------------------------------------- every backbone

def _backbone_cases():
    fast = [("small_cnn", 32)]
    slow = [("mobilenet_v3_small", 32), ("efficientnet_b0", 32), ("inception_resnet_v2", 75)]
    return [pytest.param(b, s, id=b) for b, s in fast] + \
        [pytest.param(b, s, id=b, marks=pytest.mark.slow) for b, s in slow]


@pytest.mark.parametrize(("backbone", "size"), _backbone_cases())
def test_every_head_and_method_runs_on_each_backbone(backbone, size):
    model = build_model(backbone=backbone, image_size=size, race_classes=RACES, weights="none")
    images = random_faces(2, size=size)
    layer = saliency.default_layer(model)
    assert min(model.get_layer(layer).output.shape[1:3]) >= 2
    for head in labels.HEADS:
        for method in SALIENCY_METHODS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", saliency.ConstantMapWarning)
                result = saliency.explain_detailed(model, images, head=head, method=method,
                                                   smooth_samples=3)
            assert result.maps.shape == (2, size, size), (head, method)
            assert result.maps.min() >= 0.0 and result.maps.max() <= 1.0
            assert np.isfinite(result.maps).all()
            # An untrained head may be blind to the image, but never silently so.
            for heatmap, constant in zip(result.maps, result.constant, strict=True):
                assert constant or heatmap.max() - heatmap.min() > 0.5, (head, method)
