"""``python -m modelkit data summary``: the JSON users script against, and its errors.
Its epoch is the one ``train`` runs: the train split under TrainConfig's plan."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from modelkit import labels
from modelkit.__main__ import main
from modelkit.config import DEFAULTS, TrainConfig
from tests.helpers.datasets import UTKFACE_ROWS, make_tiny_utkface

UTKFACE_SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface_sample"


def summary(capsys, *argv) -> dict:
    assert main(["data", "summary", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_shape_and_counts_on_a_utkface_folder(tmp_path, capsys):
    root = make_tiny_utkface(tmp_path / "utk")
    (root / "7_0_9_20170116174525125.jpg.chip.jpg").write_bytes(b"")  # race 9: out of range
    (root / "notes.jpg").write_bytes(b"not an image")
    out = summary(capsys, "--source", "utkface", "--root", str(root), "--balance", "none")
    assert set(out) == {"n_images", "skipped", "splits", "counts", "plan"}
    assert out["n_images"] == len(UTKFACE_ROWS) == sum(out["splits"].values())
    assert {Path(s["path"]).name for s in out["skipped"]} == {"7_0_9_20170116174525125.jpg.chip.jpg", "notes.jpg"}
    assert all(s["reason"] for s in out["skipped"])
    assert list(out["counts"]["age_group"]) == list(labels.AGE_GROUPS)
    assert out["counts"]["race"] == {r: sum(1 for _, _, c in UTKFACE_ROWS if c == i)
                                     for i, r in enumerate(labels.UTKFACE_RACES)}
    plan = out["plan"]
    assert plan["n_images"] == out["splits"]["train"] == plan["images_per_epoch"]
    assert plan["epoch_counts"] == plan["counts"]  # no rebalancing: the train split as it is
    assert sum(plan["counts"]["race"].values()) == out["splits"]["train"]


def test_the_plan_flags_default_to_train_s(tmp_path, capsys):
    out = summary(capsys, "--source", "utkface", "--root", str(make_tiny_utkface(tmp_path / "utk")))
    assert {k: out["plan"][k] for k in ("balance", "target", "max_repeat", "seed")} == {
        "balance": DEFAULTS.balance, "target": DEFAULTS.target, "max_repeat": DEFAULTS.max_repeat,
        "seed": DEFAULTS.seed}


SKEWED = [(25, 0, 0)] * 12 + [(25, 1, 1)] * 4 + [(30, 1, 2)] * 3 + [(40, 0, 3)]


def test_the_plan_follows_the_formula_on_the_train_split(tmp_path, capsys):
    root = make_tiny_utkface(tmp_path / "utk", rows=SKEWED)
    out = summary(capsys, "--source", "utkface", "--root", str(root), "--balance", "race",
                  "--target", "median", "--max-repeat", "3")
    plan = out["plan"]
    before = plan["counts"]["race"]
    assert sum(before.values()) == out["splits"]["train"] < len(SKEWED)
    present = sorted(n for n in before.values() if n)
    median = round((present[(len(present) - 1) // 2] + present[len(present) // 2]) / 2)
    assert plan["epoch_counts"]["race"] == {r: max(n, min(median, 3 * n)) for r, n in before.items()}
    # Every attribute counts the same epoch: the race repeats carry the other labels along.
    assert {sum(c.values()) for c in plan["epoch_counts"].values()} == {plan["images_per_epoch"]}


def test_the_summary_s_epoch_is_the_one_train_prepares(tmp_path, capsys):
    from modelkit.training.prepare import prepare_data

    root = make_tiny_utkface(tmp_path / "utk", rows=SKEWED)
    out = summary(capsys, "--source", "utkface", "--root", str(root), "--balance", "joint")
    data = prepare_data(TrainConfig(source="utkface", root=str(root), balance="joint",
                                    augment=False, image_size=16))
    for attribute in labels.ATTRIBUTES:
        planned = {str(k): int(v) for k, v in data.plan.counts_after(attribute).items()}
        assert out["plan"]["epoch_counts"][attribute] == planned
    assert out["plan"]["images_per_epoch"] == data.images_per_epoch


@pytest.mark.parametrize("argv,message", [
    (["--source", "utkface", "--root", "/nonexistent/faces"], "does not exist"),
    (["--source", "csv", "--labels", "/nonexistent/labels.csv"], "labels.csv"),
    (["--source", "utkface"], "--root"),
    (["--target", "mean"], "target must be max, median or a positive count"),
    (["--max-repeat", "0"], "max_repeat must be a positive integer"),
])
def test_unusable_root_exits_non_zero_with_one_line(argv, message):
    result = subprocess.run([sys.executable, "-m", "modelkit", "data", "summary", *argv],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_readable_table_without_json(tmp_path, capsys):
    root = make_tiny_utkface(tmp_path / "utk")
    assert main(["data", "summary", "--source", "utkface", "--root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "train" in text and "per epoch" in text and "White" in text


@pytest.mark.slow
@pytest.mark.skipif(not UTKFACE_SAMPLE.is_dir(), reason="../shared/data/utkface_sample is not beside the checkout")
def test_real_utkface_sample_counts_what_the_file_names_say(capsys):
    names = [p.name for p in UTKFACE_SAMPLE.iterdir()]
    fields = [n.split("_") for n in names]
    out = summary(capsys, "--source", "utkface", "--root", str(UTKFACE_SAMPLE), "--balance", "age_group",
                  "--target", "max", "--max-repeat", "4")
    assert out["n_images"] + len(out["skipped"]) == len(names)
    # A well-formed name whose age is outside labels' one range (the sample has faces
    # named 105-116) is skipped, as any reader refuses such an age.
    ok = [f for f in fields if len(f) == 4 and not labels.age_out_of_range([int(f[0])])[0]]
    assert len(ok) < sum(len(f) == 4 for f in fields)
    assert out["counts"]["gender"]["male"] == sum(f[1] == "0" for f in ok)
    race = Counter(labels.UTKFACE_RACES[int(f[2])] for f in ok)
    assert out["counts"]["race"] == {r: race[r] for r in labels.UTKFACE_RACES}
    before = out["plan"]["counts"]["age_group"]
    assert sum(before.values()) == out["splits"]["train"]
    top = max(before.values())
    assert out["plan"]["epoch_counts"]["age_group"] == {g: max(n, min(top, 4 * n))
                                                        for g, n in before.items()}
