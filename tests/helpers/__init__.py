"""Code shared by the tests. Test modules import from here (or use the fixtures of a
``conftest.py``), never from one another: tests/test_architecture.py checks it.

- ``images``: small image files (random pixels, a PNG that is only a header);
- ``datasets``: tiny datasets in each source's real layout;
- ``samples``: the shared sample faces (UTKFace, FairFace), picks and pastes of them;
- ``predictions``: a hand-made predictions table and the figures computed by hand;
- ``compare_runs``, ``evaluate_page``, ``explain_page``: run folders written by hand
  for those tests (and the pages' scripts);
- ``tiny_run``, ``curation_run``: small runs trained for real once per session;
- ``fake_trainer``: the stand-in trainer put on ``PYTHONPATH`` (tests/fake_trainer/);
- ``waits``: waits on a condition or a process with a deadline, never a fixed sleep;
- ``plotly_spec``: Plotly figures as AppTest sees them;
- ``browser``: the dashboard served for the browser tests, and waits on its pages.
"""
