"""`python -m modelkit export --run-dir DIR --out DIR [--format savedmodel|tflite]`.

Writes the run's model as a TensorFlow SavedModel whose ``serving_default`` signature
takes a batch of uint8 face images of any size and returns named outputs (gender and
race probabilities, age in years, age group), with ``signature.json`` listing the class
names in output order. Serving it needs TensorFlow only, not FaceScope. ``--format
tflite`` writes ``model.tflite`` instead, whose input is fixed at the model's size
(TFLite has no antialiased resize, so the caller resizes; see signature.json).
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    from modelkit.export import EXPORT_FORMATS

    p = sub.add_parser("export", help="write a run's model as a SavedModel to serve",
                       description=__doc__.splitlines()[0])
    p.add_argument("--run-dir", required=True, help="a finished run folder (holds model.keras)")
    p.add_argument("--out", required=True, help="a new or empty folder for the export")
    p.add_argument("--format", choices=EXPORT_FORMATS, default=EXPORT_FORMATS[0],
                   help="savedmodel (default) or tflite")
    p.add_argument("--json", action="store_true", help="print signature.json and the size")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from modelkit.export import export_run

    result = export_run(args.run_dir, out=args.out, format=args.format)
    if args.json:
        print(json.dumps({"path": str(result.path), "format": result.format,
                          "size_bytes": result.size_bytes, "signature": result.signature}, indent=2))
        return 0
    outputs = result.signature["outputs"]
    print(f"wrote {result.format} to {result.path} ({result.size_bytes / 2**20:.1f} MiB)")
    given = result.signature["input"]
    print(f"signature {result.signature['signature']}: {given['name']} uint8 "
          f"{tuple('N' if d is None and i == 0 else d or '?' for i, d in enumerate(given['shape']))}"
          f" -> {', '.join(outputs)}")
    print(f"  {given['name']}: {given['pixels']}")
    for name, spec in outputs.items():
        if "classes" in spec:
            print(f"  {name}: {', '.join(spec['classes'])}")
    return 0
