"""One cartoon face drawn from its labels: the pictures of the synthetic default set
(``modelkit.data.synthetic.generate``).

:func:`draw_face` draws at twice the size and shrinks (cheap anti-aliasing). The look
follows the labels with overlapping noise, so a model has to learn rather than read
one pixel: race sets the skin tone and the hair and iris colour distributions; gender
the hair length, jaw width, beard and lip colour; age the face's proportions (a
child's big eyes set low in a round face, a short nose), wrinkles and grey, thinning
hair. Pose, lighting, background and sensor noise come from the caller's ``rng``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from modelkit import labels

# Mean skin RGB per race (SYNTHETIC_RACES order); each face adds noise, so neighbours overlap.
_SKIN = np.array([(232, 196, 170), (112, 76, 56), (222, 186, 140), (170, 118, 84), (196, 150, 112)], float)
_HAIR_COLOURS = np.array([(28, 24, 22), (66, 42, 28), (112, 76, 46), (204, 170, 110), (150, 72, 36)], float)
# Probability of each hair colour per race (rows) — black, dark brown, brown, blond, red.
_HAIR_BY_RACE = np.array([
    (0.15, 0.30, 0.25, 0.22, 0.08),
    (0.80, 0.17, 0.03, 0.00, 0.00),
    (0.85, 0.13, 0.02, 0.00, 0.00),
    (0.70, 0.25, 0.05, 0.00, 0.00),
    (0.45, 0.35, 0.15, 0.03, 0.02),
])
_IRIS = np.array([(60, 40, 25), (90, 60, 30), (70, 110, 150), (80, 120, 80)], float)
_IRIS_BY_RACE = np.array([
    (0.35, 0.20, 0.30, 0.15), (0.75, 0.25, 0.0, 0.0), (0.8, 0.2, 0.0, 0.0),
    (0.7, 0.3, 0.0, 0.0), (0.55, 0.35, 0.05, 0.05),
])
_SUPERSAMPLE = 2  # draw at twice the size and shrink: cheap anti-aliasing


def draw_face(rng: np.random.Generator, *, age: float, gender: str, race: str,
              size: int) -> Image.Image:
    """One cartoon face whose look follows (age, gender, race), with random pose,
    lighting and background drawn from ``rng``. Returns an RGB image ``size`` square."""
    race_i = labels.SYNTHETIC_RACES.index(race)
    male = gender == "male"
    big = size * _SUPERSAMPLE
    background = tuple(int(v) for v in rng.integers(30, 226, size=3))
    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)
    _draw_background(draw, rng, big)

    skin = np.clip(_SKIN[race_i] + rng.normal(0, 14, 3) + rng.normal(0, 12), 0, 255)
    hair = _hair_colour(rng, race_i, age)
    face = _face_geometry(rng, age=age, male=male, big=big)
    _draw_body(draw, rng, face, skin)
    long_hair = rng.random() < (0.85 if not male else 0.12) and age >= 3
    if long_hair:
        _draw_long_hair(draw, face, hair)
    _draw_head(draw, face, skin, male=male)
    _draw_hair_top(draw, rng, face, hair, male=male, age=age)
    _draw_eyes(draw, rng, face, race_i, age=age, male=male, hair=hair)
    _draw_nose_mouth(draw, rng, face, skin, age=age, male=male)
    if male and age >= 17 and rng.random() < 0.35:
        _draw_beard(draw, face, skin, hair)
    _draw_wrinkles(draw, rng, face, skin, age=age)
    if rng.random() < 0.1 and age >= 6:
        _draw_glasses(draw, rng, face)

    image = image.reduce(_SUPERSAMPLE)  # rotating after shrinking costs a quarter
    image = image.rotate(rng.normal(0, 6), resample=Image.Resampling.BILINEAR, fillcolor=background)
    return _light(image, rng)


def _tup(colour) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(colour, 0, 255))


def _draw_background(draw: ImageDraw.ImageDraw, rng, big: int) -> None:
    for _ in range(int(rng.integers(0, 4))):
        x, y = rng.uniform(-0.3, 1.0, 2) * big
        w, h = rng.uniform(0.2, 0.8, 2) * big
        colour = _tup(rng.integers(20, 236, 3))
        if rng.random() < 0.5:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        else:
            draw.ellipse((x, y, x + w, y + h), fill=colour)


def _hair_colour(rng, race_i: int, age: float) -> np.ndarray:
    base = _HAIR_COLOURS[rng.choice(len(_HAIR_COLOURS), p=_HAIR_BY_RACE[race_i])]
    base = base + rng.normal(0, 8, 3)
    grey = np.clip((age - 42) / 35 + rng.normal(0, 0.15), 0, 1) if age > 30 else 0.0
    return base * (1 - grey) + np.array([205.0, 205, 210]) * grey


def _face_geometry(rng, *, age: float, male: bool, big: int) -> dict:
    """Positions and proportions in pixels; age changes the shape, noise the rest."""
    scale = big * rng.uniform(0.52, 0.66)
    roundness = np.interp(age, [0, 4, 12, 18], [1.0, 1.05, 1.18, 1.28]) + rng.normal(0, 0.04)
    width = scale * rng.uniform(0.66, 0.74) * rng.uniform(0.9, 1.0)  # squash = a little yaw
    height = width * roundness
    cx = big / 2 + rng.normal(0, 0.05) * big
    cy = big * 0.47 + rng.normal(0, 0.04) * big
    jaw = (0.72 if male else 0.5) + rng.normal(0, 0.08)
    return {
        "cx": cx, "cy": cy, "w": width, "h": height, "top": cy - height / 2,
        "jaw": float(np.clip(jaw, 0.3, 0.95)),
        # Eyes sit lower and are bigger on a child's face.
        "eye_y": np.interp(age, [0, 12, 20], [0.56, 0.48, 0.44]) + rng.normal(0, 0.015),
        "eye_r": width * (np.interp(age, [0, 10, 20, 80], [0.12, 0.105, 0.09, 0.075])
                          + rng.normal(0, 0.006)),
        "eye_dx": width * (0.22 + rng.normal(0, 0.015)),
        "line": max(1, int(big / 60)),
    }


def _draw_body(draw, rng, f, skin) -> None:
    cx, w, bottom = f["cx"], f["w"], f["top"] + f["h"]
    shirt = _tup(rng.integers(20, 236, 3))
    draw.ellipse((cx - w * 1.15, bottom + f["h"] * 0.12, cx + w * 1.15, bottom + f["h"] * 1.2), fill=shirt)
    draw.rectangle((cx - w * 0.18, bottom - f["h"] * 0.1, cx + w * 0.18, bottom + f["h"] * 0.22),
                   fill=_tup(skin * 0.88))


def _draw_long_hair(draw, f, hair) -> None:
    cx, w, top, h = f["cx"], f["w"], f["top"], f["h"]
    draw.rounded_rectangle((cx - w * 0.66, top - h * 0.06, cx + w * 0.66, top + h * 1.12),
                           radius=w * 0.4, fill=_tup(hair * 0.9))


def _draw_head(draw, f, skin, *, male: bool) -> None:
    cx, cy, w, h, top = f["cx"], f["cy"], f["w"], f["h"], f["top"]
    colour = _tup(skin)
    ear_y = top + h * f["eye_y"]
    for side in (-1, 1):
        ex = cx + side * w * 0.5
        draw.ellipse((ex - w * 0.08, ear_y - h * 0.08, ex + w * 0.08, ear_y + h * 0.1), fill=_tup(skin * 0.93))
    draw.ellipse((cx - w / 2, top, cx + w / 2, top + h), fill=colour)
    # The jaw: a trapezoid over the lower half; wider (squarer) for men.
    half = w / 2 * f["jaw"]
    chin = top + h * (0.99 if male else 1.0)
    draw.polygon([(cx - w * 0.48, cy), (cx + w * 0.48, cy), (cx + half, chin - h * 0.06),
                  (cx + half * 0.7, chin), (cx - half * 0.7, chin), (cx - half, chin - h * 0.06)],
                 fill=colour)


def _draw_hair_top(draw, rng, f, hair, *, male: bool, age: float) -> None:
    cx, w, h, top = f["cx"], f["w"], f["h"], f["top"]
    colour = _tup(hair)
    if age < 2 and rng.random() < 0.6:
        return  # many babies have next to no hair
    bald = male and age > 40 and rng.random() < (age - 40) / 60
    # The fringe recedes with age, baring the forehead where the wrinkles go.
    fringe = rng.uniform(0.16, 0.3) * h * (1 - 0.35 * np.clip((age - 30) / 40, 0, 1))
    f["hairline"] = top + (0.1 * h if bald else fringe + 0.03 * h)
    box = (cx - w * 0.54, top - h * 0.06, cx + w * 0.54, top + 2 * fringe + h * 0.12)
    if bald:  # hair only around the sides
        draw.chord(box, 160, 200, fill=colour)
        draw.chord(box, 340, 20, fill=colour)
        return
    draw.chord(box, 180, 360, fill=colour)
    side = h * (0.42 if not male else 0.3)
    draw.rectangle((cx - w * 0.54, top + fringe, cx - w * 0.44, top + side), fill=colour)
    draw.rectangle((cx + w * 0.44, top + fringe, cx + w * 0.54, top + side), fill=colour)
    if rng.random() < 0.5:  # a parting or a quiff, for variety
        x = cx + rng.uniform(-0.25, 0.25) * w
        draw.ellipse((x - w * 0.2, top - h * 0.08, x + w * 0.2, top + fringe * 1.1), fill=colour)


def _draw_eyes(draw, rng, f, race_i: int, *, age: float, male: bool, hair) -> None:
    cx, h, top = f["cx"], f["h"], f["top"]
    y = top + h * f["eye_y"]
    r = f["eye_r"]
    iris = _tup(_IRIS[rng.choice(len(_IRIS), p=_IRIS_BY_RACE[race_i])] + rng.normal(0, 8, 3))
    look = rng.normal(0, 0.2) * r
    brow = _tup(hair * 0.8)
    for side in (-1, 1):
        x = cx + side * f["eye_dx"]
        draw.ellipse((x - r * 1.25, y - r * 0.8, x + r * 1.25, y + r * 0.8), fill=(245, 245, 240))
        draw.ellipse((x + look - r * 0.62, y - r * 0.62, x + look + r * 0.62, y + r * 0.62), fill=iris)
        draw.ellipse((x + look - r * 0.28, y - r * 0.28, x + look + r * 0.28, y + r * 0.28), fill=(10, 10, 10))
        by = y - r * (1.7 + rng.normal(0, 0.15))
        draw.line((x - r * 1.3, by + side * r * 0.1 * rng.normal(), x + r * 1.3, by),
                  fill=brow, width=f["line"] * (3 if male else 2))
        if not male and age >= 14 and rng.random() < 0.6:  # lashes
            draw.line((x - r * 1.25, y - r * 0.4, x - r * 1.55, y - r * 0.75), fill=(20, 20, 20), width=f["line"])


def _draw_nose_mouth(draw, rng, f, skin, *, age: float, male: bool) -> None:
    cx, w, h, top = f["cx"], f["w"], f["h"], f["top"]
    eye_y = top + h * f["eye_y"]
    nose_len = h * (np.interp(age, [0, 15, 60], [0.1, 0.16, 0.19]) + rng.normal(0, 0.015))
    shade = _tup(skin * 0.72)
    tip = eye_y + nose_len + h * 0.04
    draw.line((cx, eye_y + h * 0.04, cx - w * 0.04, tip), fill=shade, width=f["line"] * 2)
    draw.line((cx - w * 0.06, tip, cx + w * 0.05, tip), fill=shade, width=f["line"] * 2)
    mouth_y = tip + (top + h - tip) * rng.uniform(0.38, 0.48)
    half = w * rng.uniform(0.13, 0.2)
    lips = (185, 40, 60) if (not male and age >= 15 and rng.random() < 0.5) else _tup(skin * [0.8, 0.55, 0.55])
    smile = rng.uniform(-0.02, 0.08) * h
    draw.arc((cx - half, mouth_y - smile - h * 0.03, cx + half, mouth_y + smile + h * 0.03),
             0 if smile >= 0 else 180, 180 if smile >= 0 else 360, fill=lips, width=f["line"] * 3)


def _draw_beard(draw, f, skin, hair) -> None:
    cx, cy, w, h, top = f["cx"], f["cy"], f["w"], f["h"], f["top"]
    colour = _tup(skin * 0.45 + hair * 0.55)
    half = w / 2 * f["jaw"]
    chin = top + h
    draw.polygon([(cx - w * 0.47, cy + h * 0.08), (cx - w * 0.3, cy + h * 0.16), (cx, cy + h * 0.3),
                  (cx + w * 0.3, cy + h * 0.16), (cx + w * 0.47, cy + h * 0.08),
                  (cx + half, chin - h * 0.06), (cx + half * 0.7, chin), (cx - half * 0.7, chin),
                  (cx - half, chin - h * 0.06)], fill=colour)


def _draw_wrinkles(draw, rng, f, skin, *, age: float) -> None:
    """Forehead lines from the mid-thirties and crow's feet from the fifties, more with age."""
    cx, w, h, top = f["cx"], f["w"], f["h"], f["top"]
    lines = int(np.clip((age - 32) / 11 + rng.normal(0, 0.6), 0, 5))
    colour = _tup(skin * 0.68)
    # Between the hairline and the brows, evenly spaced.
    start = f.get("hairline", top + 0.12 * h) + 0.03 * h
    stop = max(top + h * f["eye_y"] - f["eye_r"] * 2.2, start + 0.06 * h)
    for k in range(lines):
        y = start + (stop - start) * (k + 0.5) / lines
        half = w * rng.uniform(0.18, 0.26)
        draw.arc((cx - half, y - h * 0.02, cx + half, y + h * 0.03), 200, 340, fill=colour, width=f["line"])
    if age > 50:
        eye_y = top + h * f["eye_y"]
        for side in (-1, 1):
            x = cx + side * (f["eye_dx"] + f["eye_r"] * 1.45)
            for dy in (-0.4, 0.0, 0.4):
                draw.line((x, eye_y + dy * f["eye_r"], x + side * f["eye_r"] * 0.7,
                           eye_y + dy * f["eye_r"] * 1.8), fill=colour, width=f["line"])
        mouth = top + h * 0.72
        for side in (-1, 1):  # nasolabial folds
            draw.line((cx + side * w * 0.13, mouth - h * 0.12, cx + side * w * 0.2, mouth + h * 0.04),
                      fill=colour, width=f["line"])


def _draw_glasses(draw, rng, f) -> None:
    y = f["top"] + f["h"] * f["eye_y"]
    r = f["eye_r"] * 1.7
    colour = _tup(rng.integers(0, 120, 3))
    for side in (-1, 1):
        x = f["cx"] + side * f["eye_dx"]
        draw.ellipse((x - r, y - r * 0.8, x + r, y + r * 0.8), outline=colour, width=f["line"] * 2)
    draw.line((f["cx"] - f["eye_dx"] + r, y, f["cx"] + f["eye_dx"] - r, y), fill=colour, width=f["line"] * 2)


def _light(image: Image.Image, rng) -> Image.Image:
    """A random lighting gradient, overall exposure and sensor noise."""
    pixels = np.asarray(image, dtype=np.float32)
    side = pixels.shape[0]
    ramp = (np.arange(side, dtype=np.float32) / side) - 0.5
    gain = (rng.uniform(0.75, 1.2) + rng.normal(0, 0.25) * ramp[None, :] + rng.normal(0, 0.15) * ramp[:, None])
    noise = rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(rng.uniform(1.0, 7.0))
    pixels = pixels * gain[..., None] + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
