"""`python -m modelkit saliency`: write one face's saliency overlay as a PNG.

    python -m modelkit saliency --run-dir runs/abc --image face.jpg --head race \
        --class Asian --method gradcam --out map.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modelkit import labels, uploads
from modelkit.config import METHOD_TITLES, OUTPUT_ONLY_METHODS, SALIENCY_METHODS
from modelkit.outside.card import is_outside_model


def add_parser(sub) -> None:
    p = sub.add_parser("saliency", help="draw what one head of a trained model looked at",
                       description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True, help="a run folder holding model.keras, or an "
                   "outside model's folder")
    p.add_argument("--image", required=True, help="the face image (" + ", ".join(uploads.ALLOWED_TYPES) + ")")
    p.add_argument("--head", required=True, choices=labels.HEADS)
    p.add_argument("--class", dest="class_name", default=None,
                   help="the class to explain (default: the predicted one; for age, an age "
                        "group, default: the expected age)")
    p.add_argument("--method", default=None, choices=SALIENCY_METHODS + OUTPUT_ONLY_METHODS,
                   help="how the map is computed: " + ", ".join(
                       f"{m} ({title})" for m, title in METHOD_TITLES.items())
                   + f" (default: {SALIENCY_METHODS[0]}; occlusion for an outside model, "
                     "which gives no gradients)")
    p.add_argument("--alpha", type=float, default=0.45, help="weight of the map's colours")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the run, explain the image, write the overlay; print what was explained.

    The image is decoded as an upload (checked, EXIF orientation applied) by the one
    decoder, once at its own size (the picture) and once at the model's size (its
    input, as training decodes a file: a large JPEG at a reduced DCT size); the map
    is drawn over the picture."""
    from PIL import Image

    from modelkit import saliency

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must name a .png file, got {args.out}")
    if args.method in OUTPUT_ONLY_METHODS or is_outside_model(args.run_dir):
        return _occlusion(args, out)
    args.method = args.method or SALIENCY_METHODS[0]
    config = saliency.load_run_config(args.run_dir)
    class_index = saliency.class_index_for(config, args.head, args.class_name)
    image = uploads.decode_image_file(args.image)
    model = saliency.load_run_model(args.run_dir)
    inputs = uploads.decode_image_file(args.image, image_size=saliency.image_size(model))
    result = saliency.explain_detailed(model, inputs, head=args.head, class_index=class_index,
                                       method=args.method)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(saliency.overlay(image, result.maps[0], alpha=args.alpha)).save(out)
    print(f"{out}: {args.method} of the {args.head} head, explaining "
          f"{_explained(config, result)}" + (" (constant map: no gradient)"
                                            if result.constant[0] else ""))
    return 0


def _occlusion(args: argparse.Namespace, out: Path) -> int:
    """Occlusion, the one method for a model without gradients (any model takes it)."""
    from PIL import Image

    from modelkit import saliency
    from modelkit.prediction.predictors import check_predicts_faces, load_predictor
    from modelkit.saliency.occlusion import explain_any

    if args.method not in (None, *OUTPUT_ONLY_METHODS):
        raise ValueError(f"{Path(args.run_dir).name} is an outside model: it gives no gradients "
                         f"for {args.method}; use --method {OUTPUT_ONLY_METHODS[0]}")
    check_predicts_faces(args.run_dir)
    predictor = load_predictor(args.run_dir)
    image = uploads.decode_image_file(args.image)
    face = uploads.decode_image_file(args.image, image_size=predictor.image_size[0])
    heat, explained = explain_any(predictor, face, head=args.head, class_name=args.class_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(saliency.overlay(image, heat, alpha=args.alpha)).save(out)
    print(f"{out}: occlusion of the {args.head} head, explaining {explained}")
    return 0


def _explained(config: dict, result) -> str:
    """What the map explains, in words: a class name or the expected age."""
    from modelkit.saliency import class_names, expected_age

    index = int(result.class_indices[0])
    if result.head == "age" and index < 0:
        return f"the expected age ({float(expected_age(result.probs['age'])[0]):.1f} years)"
    return repr(class_names(config, result.head)[index])
