"""Faces in photos (modelkit.data.faces.detect / faces / face_crops) on real faces from
the shared samples: detection, eye-level alignment, several faces on one canvas, no
face, a face too small, the per-file cache and the aligned dataset."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from modelkit.data import decode
from modelkit.data.faces import align as faces
from modelkit.data.faces import crops as face_crops
from modelkit.data.faces import detect as face_detect
from modelkit.data.manifest import Dataset, assign_splits, build_manifest
from tests.helpers.samples import FAIRFACE, UTKFACE, pasted, sample_files


@pytest.fixture
def count_detector_calls(monkeypatch):
    """The number of MTCNN calls made so far (the real detector, counted)."""
    detector = face_detect.detector()
    real = detector.detect_faces
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(detector, "detect_faces", counted)
    return lambda: len(calls)


@pytest.mark.parametrize("folder", [UTKFACE, FAIRFACE], ids=["utkface", "fairface"])
def test_detection_finds_the_face_of_sample_images(folder):
    files = sample_files(folder, 6)
    found = face_detect.detect_batch([decode.decode_file(f) for f in files])
    with_face = [(f, face_detect.primary_face(fs)) for f, fs in zip(files, found, strict=True) if fs]
    assert len(with_face) >= 5, f"no face found in {[f.name for f, fs in zip(files, found, strict=True) if not fs]}"
    for file, face in with_face:
        x, y, w, h = face.box
        assert face.confidence >= face_detect.MIN_CONFIDENCE
        assert 0.4 < w / 200 < 1.6 and 0.5 < h / 200 < 1.8, (file.name, face.box)  # a face, not a patch
        left, right = face.point("left_eye"), face.point("right_eye")
        mouth = (face.point("mouth_left") + face.point("mouth_right")) / 2
        assert left[0] < right[0] and mouth[1] > max(left[1], right[1]) + 20, file.name


def test_batched_detection_finds_what_one_at_a_time_finds():
    images = [decode.decode_file(f) for f in sample_files(FAIRFACE, 4, seed=3)]
    batched = face_detect.detect_batch(images)
    for image, faces_in_batch in zip(images, batched, strict=True):
        alone = face_detect.detect_faces(image)
        assert len(alone) == len(faces_in_batch)
        for a, b in zip(alone, faces_in_batch, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=0.05)


def test_alignment_levels_the_eyes_of_a_tilted_face():
    """A FairFace face turned by 20 degrees on a larger canvas: the detector sees the
    tilt, and in the aligned crop a second detection finds the eyes level, where the
    framing puts them."""
    file = sample_files(FAIRFACE, 1, seed=8)[0]
    upright = Image.fromarray(decode.decode_file(file))
    canvas = Image.new("RGB", (420, 420), (120, 120, 120))
    canvas.paste(upright, (98, 98))
    tilted = np.asarray(canvas.rotate(20, resample=Image.BICUBIC))  # counter-clockwise
    original = face_detect.primary_face(face_detect.detect_faces(np.asarray(canvas)))
    face = face_detect.primary_face(face_detect.detect_faces(tilted))
    assert face.eye_roll == pytest.approx(original.eye_roll - 20, abs=4)

    crop = faces.align_face(tilted, face)
    assert crop.shape == (faces.CROP_SIZE, faces.CROP_SIZE, 3) and crop.dtype == np.uint8
    eyes = faces.to_crop(faces.alignment(face), np.array([face.point("left_eye"), face.point("right_eye")]))
    assert eyes[0, 1] == pytest.approx(eyes[1, 1], abs=1e-6)  # the transform levels them exactly
    again = face_detect.primary_face(face_detect.detect_faces(crop))
    assert abs(again.eye_roll) < 4  # and the detector agrees, on the crop's own pixels
    framing, side = faces.UTKFACE_FRAMING, faces.CROP_SIZE
    mid = (again.point("left_eye") + again.point("right_eye")) / 2
    assert mid == pytest.approx([framing.eye_x * side, framing.eye_y * side], abs=0.06 * side)
    distance = np.linalg.norm(again.point("right_eye") - again.point("left_eye"))
    assert distance == pytest.approx(framing.eye_distance * side, rel=0.15)


def test_a_large_face_is_shrunk_before_the_warp_to_the_same_crop():
    """A face 3x larger than the crop comes out as the same crop as its small copy (the
    region is shrunk with the decoder's antialiased resize first)."""
    file = sample_files(UTKFACE, 1, seed=2)[0]
    small = pasted([file], canvas=(400, 400), places=((100, 100, 200),))
    large = pasted([file], canvas=(1200, 1200), places=((300, 300, 600),))
    face = face_detect.primary_face(face_detect.detect_faces(small))
    scaled = dataclasses.replace(face, box=tuple(3 * v for v in face.box), landmarks={
        k: (3 * x + 1, 3 * y + 1) for k, (x, y) in face.landmarks.items()})  # pixel centres
    a, b = faces.align_face(small, face), faces.align_face(large, scaled)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 3


def test_two_pasted_faces_give_two_numbered_boxes_left_to_right():
    image = pasted(sample_files(FAIRFACE, 2, seed=1))
    photo = faces.find_faces(image, name="group.png")
    assert [f.number for f in photo.faces] == [1, 2]
    for found, (x, y, side) in zip(photo.faces, ((60, 100, 200), (380, 120, 180)), strict=True):
        bx, by, bw, bh = found.face.box
        assert x <= bx + bw / 2 <= x + side and y <= by + bh / 2 <= y + side
        assert found.usable and found.crop.shape == (faces.CROP_SIZE, faces.CROP_SIZE, 3)
    assert photo.shape == (400, 640)


@pytest.mark.parametrize("image", [
    np.full((300, 400, 3), (40, 160, 90), np.uint8),
    (np.linspace(0, 255, 400)[None, :, None] * np.ones((300, 1, 3))
     + np.random.default_rng(0).normal(0, 12, (300, 400, 3))).clip(0, 255).astype(np.uint8),
], ids=["flat-colour", "gradient-with-noise"])
def test_a_photo_without_a_face_says_so(image):
    with pytest.raises(faces.NoFaceError, match=r"empty\.png: no face found .*mtcnn"):
        faces.find_faces(image, name="empty.png")


def test_a_face_too_small_to_use_says_so():
    image = pasted(sample_files(UTKFACE, 1, seed=4), canvas=(240, 160), places=((100, 60, 32),))
    photo = faces.find_faces(image, name="far.png")
    (found,) = photo.faces
    assert found.face.side < face_detect.MIN_FACE_SIDE
    assert not found.usable and found.crop is None
    assert "MIN_FACE_SIDE = 32 px" in found.problem
    with pytest.raises(faces.FaceTooSmallError, match=r"far\.png: every face found is too small"):
        photo.require_usable()


@pytest.mark.parametrize(("side", "too_small"), [(31.9, True), (32.0, False)])
def test_the_minimum_face_size_is_the_box_s_shorter_side(side, too_small):
    face = face_detect.DetectedFace(box=(0, 0, side, 80), confidence=0.99, landmarks={})
    assert (face.size_problem() is not None) == too_small


def test_detections_are_cached_per_file_and_redone_when_it_changes(tmp_path, monkeypatch,
                                                                  count_detector_calls):
    monkeypatch.setenv("FACESCOPE_CACHE_DIR", str(tmp_path / "cache"))
    files = [tmp_path / f"{i}.jpg" for i in range(3)]
    for source, copy in zip(sample_files(FAIRFACE, 3, seed=5), files, strict=True):
        copy.write_bytes(source.read_bytes())
    first = face_crops.detect_files(files)
    assert count_detector_calls() == 1  # one batch of three same-size images
    again = face_crops.detect_files(files)
    assert count_detector_calls() == 1  # all three from the cache
    assert again == first
    os.utime(files[1], ns=(1, 1))  # a changed file (mtime) is looked at again
    face_crops.detect_files(files)
    assert count_detector_calls() == 2

    photo = decode.decode_file(files[0])
    assert face_crops.detect_photo(photo, path=files[0]) == first[0].faces  # its own variant
    assert count_detector_calls() == 3
    assert face_crops.detect_photo(photo, path=files[0]) == first[0].faces
    assert count_detector_calls() == 3


def test_align_dataset_crops_each_face_and_skips_an_image_without_one(tmp_path, monkeypatch,
                                                                     count_detector_calls):
    monkeypatch.setenv("FACESCOPE_CACHE_DIR", str(tmp_path / "cache"))
    files = sample_files(FAIRFACE, 4, seed=6)
    flat = tmp_path / "wall.png"
    Image.new("RGB", (224, 224), (200, 190, 180)).save(flat)
    rows = pd.DataFrame({"path": [*map(str, files), str(flat)], "age": np.nan,
                         "age_group": ["20-29", "30-39", "40-49", "3-9", "20-29"],
                         "gender": ["male", "female", "male", "female", "male"],
                         "race": ["White", "Black", "Indian", "White", "Black"]})
    manifest = assign_splits(build_manifest(rows, race_classes=("White", "Black", "Indian")), seed=0)
    aligned = face_crops.align_dataset(Dataset(manifest=manifest, source="csv", root=str(tmp_path)))

    kept = aligned.manifest
    assert str(flat) not in set(kept["original_path"])
    (skip,) = [s for s in aligned.skipped if s.path == str(flat)]
    assert "no face found" in skip.reason
    assert len(kept) >= 3 and set(kept["original_path"]) <= set(map(str, files))
    by_file = manifest.set_index("path")
    for row in kept.itertuples():
        assert Path(row.path).parent == tmp_path / "cache" / face_crops.CROPS_DIR
        assert decode.decode_file(row.path).shape == (faces.CROP_SIZE, faces.CROP_SIZE, 3)
        assert (row.gender, row.race, row.split) == tuple(
            by_file.loc[row.original_path, ["gender", "race", "split"]])
    calls = count_detector_calls()
    assert face_crops.align_dataset(Dataset(manifest=manifest)).manifest.equals(kept)
    assert count_detector_calls() == calls  # the second pass detects nothing
