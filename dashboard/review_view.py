"""The Review page's pieces: pick a run and a head, get its ranking, filter, count.

The ranking is ``<run>/suspects.parquet`` (``modelkit.curation.ranking``), computed by
``python -m modelkit labels rank`` or by the page's button, which starts that command
in the background and polls for its end. The page reads the file once per run and
mtime (``st.cache_data``) and the dataset's corrections file once per mtime and size,
so a decision made in another tab shows on the next rerun. Only one page of cards is
drawn (``review_cards``), so 20,000 suspects re-render as fast as 24.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import loaders, signin
from dashboard.titles import ATTRIBUTE_TITLES, HEAD_TITLES
from modelkit import labels
from modelkit.curation import corrections as cx
from modelkit.curation import rank_jobs, ranking
from modelkit.curation.suspects import HEAD_ATTRIBUTES, select

PAGE_SIZE = 24
POLL_S = 3.0
SEP = "\x00"  # between path and attribute in a row's decision id


# ------------------------------------------------------------------------------ loaders
@st.cache_data(show_spinner="Reading the ranking...", max_entries=4)
def suspects_table(run_dir: str, mtime: float) -> pd.DataFrame:
    """The run's ranked table with ``id``: the corrections file's key of the row."""
    table = ranking.read_suspects(run_dir)
    root = ranking.read_meta(run_dir).get("root")
    prefix = str(Path(root).resolve()) + os.sep if root else ""
    table["id"] = table["path"].str.removeprefix(prefix) + SEP + table["attribute"]
    return table


@st.cache_data(show_spinner=False, max_entries=16)
def standing(file: str, mtime_ns: int, size: int) -> dict[str, dict]:
    """``id -> {"action", "value"}`` of the standing decisions (keyed by mtime and size,
    so another tab's decision is read on the next rerun)."""
    return {path + SEP + attribute: {"action": d.action, "value": d.value}
            for (path, attribute), d in cx.latest_decisions(cx.read_decisions(file)).items()}


def decisions(file: Path) -> dict[str, dict]:
    """The standing decisions of ``file`` ({} before the first); a damaged file stops
    the page with the line to fix."""
    try:
        stat = os.stat(file)
    except OSError:
        return {}
    try:
        return standing(str(file), stat.st_mtime_ns, stat.st_size)
    except ValueError as exc:
        st.error(f"The corrections file cannot be read: {exc}")
        st.stop()


def race_classes(run_dir: Path) -> list[str]:
    """The race vocabulary the run's ranking used (a Set… picker's options)."""
    return list(ranking.run_config(run_dir)["race_classes"])


def corrections_file(run_dir: Path) -> Path:
    """The corrections file of the dataset the run was trained on."""
    return cx.config_corrections_path(ranking.run_config(run_dir))


# ------------------------------------------------------------------------------ sidebar
def run_ui(runs: list[Path]) -> Path:
    """The run whose ranking is reviewed (``?run=ID`` preselects it)."""
    names = [r.name for r in runs]
    wanted = st.query_params.get("run")
    index = names.index(wanted) if wanted in names else 0
    name = st.selectbox("Run", names, index=index, key="review_run",
                        help="a finished run: its backbone embeds the faces")
    return runs[names.index(name)]


def head_ui() -> str:
    return st.radio("Head", tuple(HEAD_ATTRIBUTES), format_func=HEAD_TITLES.get,
                    horizontal=True, key="review_head")


def filters_ui(table: pd.DataFrame, *, head: str, decided: dict[str, dict]) -> pd.DataFrame:
    """Flagged only, score, the image's groups and reviewed; returns the rows shown,
    most suspicious first."""
    flagged = st.toggle("Only likely wrong (flagged)", value=True, key="review_flagged",
                        help="cleanlab's confident-learning flag; age: a residual outlier")
    most = st.slider("Label quality score at most", 0.0, 1.0, 1.0, 0.01, key="review_score",
                     help="0 = surely wrong, 1 = surely right (cleanlab's label quality)")
    rows = select(table, head=head, issues_only=flagged)
    rows = rows[rows["score"] <= most + 1e-12]
    st.markdown("**Faces in these groups**")
    for attribute in labels.ATTRIBUTES:
        present = set(table[attribute].dropna().unique())
        values = [v for v in _vocabulary(table, attribute) if v in present]
        chosen = st.multiselect(ATTRIBUTE_TITLES[attribute], values, key=f"review_group_{attribute}",
                                placeholder="all")
        if chosen:
            rows = rows[rows[attribute].isin(chosen)]
    if st.toggle("Hide reviewed", value=False, key="review_hide"):
        rows = rows[~rows["id"].isin(decided.keys())]
    return rows


def _vocabulary(table: pd.DataFrame, attribute: str) -> list[str]:
    if attribute == "gender":
        return list(labels.GENDERS)
    if attribute == "age_group":
        return list(labels.AGE_GROUPS)
    return sorted(table[attribute].dropna().unique())


# -------------------------------------------------------------------------------- ranking
def ranking_ui(run_dir: Path) -> pd.DataFrame | None:
    """The run's table; or, while there is none, the button that ranks it in the
    background and a panel that polls for the result (then None)."""
    state = rank_jobs.ranking_state(run_dir)
    if state.state in ("queued", "running"):
        _poll(str(run_dir))
        return None
    if state.state in ("none", "failed"):
        (st.error if state.state == "failed" else st.info)(
            f"{run_dir.name}: {state.message}. Ranking embeds every labelled face with this "
            "run's backbone and cross-validates a classifier per head (minutes on a CPU). "
            f"Or run `python -m modelkit labels rank --run-dir {run_dir}`.")
        if st.button("Rank suspect labels", type="primary", key="review_rank",
                     disabled=not signin.can("job.start")):
            _rank(run_dir)
        return None
    if state.state == "stale":
        st.warning(state.message)
        if st.button("Rank again", key="review_rerank", disabled=not signin.can("job.start")):
            _rank(run_dir)
    return suspects_table(str(run_dir), loaders.file_mtime(ranking.suspects_path(run_dir)))


def _rank(run_dir: Path) -> None:
    try:
        rank_jobs.start_ranking(run_dir, actor=signin.current_actor())
    except (ValueError, PermissionError) as exc:
        st.error(f"Could not start the ranking: {exc}")
        return
    st.rerun()


@st.fragment(run_every=POLL_S)
def _poll(run_dir: str) -> None:
    state = rank_jobs.ranking_state(run_dir)
    if state.state not in ("queued", "running"):
        st.rerun()
    st.info(f"{Path(run_dir).name}: {state.message}. This page shows the suspects when it ends.")


def summary_caption(run_dir: Path) -> str:
    meta = ranking.read_meta(run_dir)
    if not meta:
        return ""
    flagged = ", ".join(f"{ATTRIBUTE_TITLES.get(a, a.capitalize())} {n:,}"
                        for a, n in meta.get("issues", {}).items())
    return (f"{meta['n_images']:,} faces ranked with {meta['folds']}-fold out-of-sample "
            f"predictions in {meta['seconds']['total']:.0f} s. Flagged: {flagged}.")


# ------------------------------------------------------------------------------- counts
def counter_ui(rows: pd.DataFrame, decided: dict[str, dict]) -> None:
    """Reviewed vs remaining among the rows the filters keep, and what the decisions do."""
    reviewed = int(rows["id"].isin(decided.keys()).sum())
    actions = pd.Series([d["action"] for d in decided.values()], dtype=object).value_counts()
    cols = st.columns(5)
    cols[0].metric("Reviewed", f"{reviewed:,}")
    cols[1].metric("Remaining", f"{len(rows) - reviewed:,}")
    for col, action, title in zip(cols[2:], ("keep", "set", "exclude"),
                                  ("Kept", "Relabelled", "Excluded"), strict=True):
        col.metric(title, f"{int(actions.get(action, 0)):,}", help="all decisions on this dataset")


def page_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The page of ``PAGE_SIZE`` cards the page picker points at."""
    pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
    # No max_value: a filter that shrinks the rows must not make the kept page invalid.
    page = int(st.number_input(f"Page (of {pages:,}, {PAGE_SIZE} faces each)", min_value=1,
                               value=1, step=1, key="review_page"))
    start = (min(page, pages) - 1) * PAGE_SIZE
    return rows.iloc[start:start + PAGE_SIZE]


# ------------------------------------------------------------------------- the loop closes
def retrain_ui(run_dir: Path, *, file: Path, n_decisions: int) -> None:
    """Retrain the run's recipe with the decisions; then "Did it help?": the Compare
    page with this run as the baseline and the newest retrained run."""
    from modelkit import runs as rk
    from modelkit.config import TrainConfig

    st.header("Retrain with the decisions")
    st.caption(f"{n_decisions:,} decisions on this dataset, in `{file}`. Training applies them "
               "(relabel, or drop excluded faces); the dataset's files are never changed.")
    if st.button("Retrain this run's recipe with the decisions", key="review_retrain",
                 disabled=not n_decisions or not signin.can("run.start")):
        config = TrainConfig.from_dict(ranking.run_config(run_dir))
        config.corrections = str(file)
        try:
            run = rk.start_run(config, actor=signin.current_actor())
        except (ValueError, PermissionError) as exc:
            st.error(f"Could not start the run: {exc}")
        else:
            st.session_state["train_watch"] = run.id
            st.success(f"Run {run.id} is {run.state}; watch it on the Train page.")
    retrained = [r for r in rk.list_runs() if r.id != run_dir.name
                 and r.config.get("corrections") == str(file.resolve())]
    done = [r for r in retrained if r.state == "finished"]
    if done:
        newest = max(done, key=lambda r: r.created or 0)
        st.markdown(f"**Did it help?** [Compare {run_dir.name} with {newest.id}]"
                    f"(compare?baseline={run_dir.name}&runs={newest.id}) on the same test faces.")
    elif retrained:
        st.caption(f"Retrained run {retrained[0].id} is {retrained[0].state}: when it finishes, "
                   "a link here compares it with this run.")
