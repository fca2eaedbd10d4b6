"""The label decisions on the Train and Dataset pages (AppTest, real UTKFace faces):
the Train form trains with them by default, and the Dataset page counts and charts the
data as training with them sees it."""

from __future__ import annotations

from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

from modelkit import labels, paths, runs
from modelkit.curation import corrections as cx
from modelkit.data import load_dataset
from tests.helpers.fake_trainer import install_fake_trainer
from tests.helpers.plotly_spec import array, specs
from tests.helpers.samples import UTKFACE

LIMIT = 300
RACES = list(labels.UTKFACE_RACES)


@pytest.fixture(scope="module")
def faces():
    return load_dataset("utkface", root=UTKFACE, limit=LIMIT, seed=0)


def decide(faces, row, attribute, action, value=None):
    file = cx.corrections_path(source="utkface", root=UTKFACE)
    cx.record_decision(file, path=row.path, attribute=attribute, action=action, value=value,
                       race_classes=RACES, root=faces.root)
    return file


def train_page(*, source="utkface") -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "pages" / "train.py"), default_timeout=60).run()
    at.selectbox(key="train_source").select(source)
    if source == "utkface":
        at.text_input(key="train_root").input(str(UTKFACE))
    at.number_input(key="train_limit").set_value(LIMIT)
    return at


@pytest.fixture
def fake_trainer(monkeypatch):
    install_fake_trainer(monkeypatch)
    yield
    for run in runs.list_runs():
        if run.state in ("queued", *runs.ACTIVE):
            runs.cancel(run.id)
        runs.wait(run.id, timeout=30)


@pytest.mark.slow
def test_the_train_form_applies_the_datasets_decisions_by_default(faces, fake_trainer):
    file = decide(faces, faces.manifest.iloc[0], "gender", "exclude")
    at = train_page()
    assert at.checkbox(key="train_corrections").value is True
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert any(str(file) in c.value for c in at.caption)
    (run,) = runs.list_runs()
    assert run.config["corrections"] == str(file)


@pytest.mark.slow
def test_the_train_form_without_decisions_or_unticked_applies_none(faces, fake_trainer):
    at = train_page(source="synthetic")  # no decisions for this dataset
    at.button(key="train_start").click().run()
    decide(faces, faces.manifest.iloc[0], "gender", "exclude")
    at = train_page()
    at.checkbox(key="train_corrections").uncheck()
    at.number_input(key="train_epochs").set_value(3)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert [r.config["corrections"] for r in runs.list_runs()] == [None, None]


def gender_bars(at) -> dict:
    spec = next(s for s in specs(at) if s["layout"]["title"]["text"] == "Gender")
    trace = next(t for t in spec["data"] if t["name"] == "before")
    return dict(zip(array(trace["x"]), array(trace["y"]), strict=True))


def dataset_page() -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "pages" / "dataset.py"), default_timeout=120).run()
    at.selectbox(key="ds_source").select("utkface").run()
    at.text_input(key="ds_root").input(str(UTKFACE)).run()
    at.number_input(key="ds_limit").set_value(LIMIT).run()
    return at


def images_metric(at) -> int:
    return int(next(m for m in at.metric if m.label == "Images").value.replace(",", ""))


def test_the_dataset_page_counts_and_charts_the_decisions(faces):
    train = faces.manifest[faces.manifest["split"] == "train"]
    relabel = train[train["gender"] == "female"].iloc[0]
    dropped = train[train["path"] != relabel.path].iloc[:2]
    decide(faces, relabel, "gender", "set", "male")
    decide(faces, dropped.iloc[0], "race", "exclude")
    decide(faces, dropped.iloc[1], "age", "exclude")
    at = dataset_page()
    assert not at.exception, at.exception
    assert any("1 relabelled, 2 excluded" in i.value for i in at.info)
    assert images_metric(at) == LIMIT - 2
    expected = Counter(train["gender"].astype(str))
    expected["female"] -= 1
    expected["male"] += 1
    expected.subtract(Counter(dropped["gender"].astype(str)))
    assert gender_bars(at) == dict(expected)

    at.toggle(key="ds_corrections").set_value(False).run()  # the data as it is
    assert images_metric(at) == LIMIT
    assert gender_bars(at) == dict(Counter(train["gender"].astype(str)))
