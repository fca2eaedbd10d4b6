"""The Train page, rendered with AppTest against the real launcher.

Runs are launched by the same ``modelkit.runs`` the page calls, through the real
supervisor and ``python -m modelkit train --config ...``, training with the stand-in
trainer (tests/helpers/fake_trainer.py), so a run is really running in its own
process while the page draws it. AppTest does not fire ``run_every``: each
``.run()`` is one redraw.
"""

from __future__ import annotations

import dataclasses
import re

from streamlit.testing.v1 import AppTest

from modelkit import paths, runs
from modelkit.config import DEFAULTS, TrainConfig
from tests.helpers.fake_trainer import fake_trainer_fixture
from tests.helpers.waits import wait_for

PAGE = str(paths.REPO_ROOT / "pages" / "train.py")


fake_trainer = fake_trainer_fixture(0.3, stop_timeout=30)


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=30)


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "success", "error", "warning",
                                  "subheader", "code") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def test_the_page_without_runs_offers_the_form_and_the_device():
    at = page().run()
    assert not at.exception
    assert "No runs yet" in at.info[0].value
    assert at.selectbox(key="train_source").value == "synthetic"
    assert at.selectbox(key="train_backbone").value == "small_cnn_deep"  # BENCHMARKS §18.6
    assert "Training device" in texts(at.sidebar)


def test_the_form_defaults_are_the_train_commands():
    at = page().run()
    assert at.selectbox(key="train_backbone").value == DEFAULTS.backbone
    assert at.number_input(key="train_epochs").value == DEFAULTS.epochs
    assert at.number_input(key="train_batch_size").value == DEFAULTS.batch_size
    assert at.number_input(key="train_lr").value == DEFAULTS.lr
    assert at.number_input(key="train_max_repeat").value == DEFAULTS.max_repeat
    assert at.text_input(key="train_target").value == str(DEFAULTS.target)
    assert at.selectbox(key="train_balance").value == DEFAULTS.balance
    assert at.select_slider(key="train_image_size").value == DEFAULTS.image_size
    assert at.checkbox(key="train_ema").value == DEFAULTS.ema


def test_a_bad_setting_is_an_error_and_starts_nothing():
    at = page().run()
    at.text_input(key="train_target").input("lots")
    at.button(key="train_start").click().run()
    assert at.error and "balance target must be max, median or a positive count" in at.error[0].value
    assert runs.list_runs() == []


def test_start_submits_one_run_and_the_panel_follows_it(fake_trainer):
    at = page().run()
    at.number_input(key="train_epochs").set_value(20)
    at.checkbox(key="train_ema").set_value(not DEFAULTS.ema)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    assert at.success and "is running" in at.success[0].value
    at.button(key="train_start").click().run()  # a double click
    assert len(runs.list_runs()) == 1
    run = runs.list_runs()[0]
    # The page's config is train's: its defaults, and the settings changed.
    assert TrainConfig.from_dict(run.config) == dataclasses.replace(DEFAULTS, epochs=20,
                                                                    ema=not DEFAULTS.ema)

    wait_for(lambda: runs.show(run.id).batch, what="the first batches")
    at.run()  # one run_every tick
    assert at.selectbox(key="train_watch").value == run.id
    assert run.id in at.subheader[0].value and "running" in at.subheader[0].value
    bar = at.get("progress")[0]
    # Whichever epoch the fake trainer has reached by this rerun (a loaded CPU lets it
    # run ahead), out of the run's 20.
    assert re.match(r"Epoch \d+/20 · batch \d+/\d+ · \d+%", bar.proto.text), bar.proto.text
    assert at.get("plotly_chart"), "the batch loss curve"
    assert "fake trainer from epoch 0" in texts(at)

    at.button(key=f"train_cancel_{run.id}").click().run()
    assert runs.show(run.id).state in ("cancelling", "cancelled")
    wait_for(lambda: runs.show(run.id).state == "cancelled", what="the cancel")
    at.run()
    assert at.button(key=f"train_resume_{run.id}")
    at.button(key=f"train_resume_{run.id}").click().run()
    assert runs.show(run.id).state in ("running", "finished")


def test_the_queue_is_visible(fake_trainer):
    first = runs.start_run({"source": "synthetic", "epochs": 20})
    second = runs.start_run({"source": "synthetic", "epochs": 21})
    at = page().run()
    shown = texts(at)
    assert f"`{first.id}` · running" in shown and f"`{second.id}` · #1 in queue" in shown


def test_a_path_outside_the_data_roots_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESCOPE_DATA_ROOTS", str(tmp_path / "allowed"))
    at = page().run()
    at.selectbox(key="train_source").select("utkface")
    at.text_input(key="train_root").input("/etc")
    at.button(key="train_start").click().run()
    assert at.error and "outside the folders the dashboard may read" in at.error[0].value
    assert str(tmp_path / "allowed") in at.error[0].value
    assert runs.list_runs() == []


def test_a_failed_run_shows_its_error_and_traceback(fake_trainer, tmp_path):
    run = runs.start_run({"source": "utkface", "root": str(tmp_path / "gone"), "epochs": 1})
    runs.wait(run.id, timeout=30)
    at = page().run()
    assert not at.exception
    assert f"FileNotFoundError: utkface: root {str(tmp_path / 'gone')!r} does not exist" in \
        at.error[0].value
    assert any("Traceback" in c.value for c in at.code)
    assert at.button(key=f"train_resume_{run.id}")
