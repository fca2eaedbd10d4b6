"""Remedy experiments in the dashboard: the Train form's control, the Runs page's groups,
and the buttons that open a pair on the Compare page.

An experiment is a run as configured and a control that differs in one setting, with
the same seed and split (``modelkit.runs.experiments``). The Train form starts one
("Also train a control run"); the Runs page groups its two runs and opens them on the
Compare page preselected: ``/compare?baseline=<control>&runs=<treatment>``. Links to
other pages are buttons that call ``st.switch_page`` (as the Evaluate gallery does), so
a page rendered on its own (AppTest) draws them too.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import signin
from dashboard.compare_view import link_params
from modelkit import runs as rk
from modelkit.config import TrainConfig
from modelkit.runs import experiments as xp

COMPARE_PAGE = "pages/compare.py"  # opened preselected: compare_view.link_params
RUNS_PAGE = "pages/runs.py"
CUSTOM = "custom"


# ----------------------------------------------------------------------------- links
def open_compare_button(baseline: str, others: list[str], *, key: str, disabled: bool = False,
                        help: str | None = None) -> None:
    """A button that opens the Compare page with ``baseline`` and ``others`` picked."""
    if st.button("Open in Compare", key=key, icon=":material/compare_arrows:",
                 disabled=disabled, help=help or f"baseline {baseline} against "
                 f"{', '.join(others)}"):
        st.switch_page(COMPARE_PAGE, query_params=link_params(baseline, others))


def _both_finished(group: dict[str, rk.RunInfo]) -> bool:
    return all(group.get(role) is not None and group[role].state == "finished"
               for role in xp.ROLES)


def experiment_compare_button(group: dict[str, rk.RunInfo], *, key: str) -> None:
    """Open an experiment on the Compare page: its control is the baseline."""
    treatment, control = group.get("treatment"), group.get("control")
    if treatment is None or control is None:
        st.caption("One run of this experiment was deleted: nothing to compare it with.")
        return
    done = _both_finished(group)
    open_compare_button(control.id, [treatment.id], key=key, disabled=not done,
                        help=None if done else "Both runs must finish first")


# ----------------------------------------------------------------------------- Train form
def control_form_ui() -> None:
    """Inside the Train form: "Also train a control run" and what the control varies.
    The values are read back by :func:`chosen_control` once the form is submitted."""
    st.markdown("**Remedy experiment**: train a control run beside this one, the same in "
                "everything (seed, split) but one setting, and compare them group by group")
    on, pick, custom = st.columns([1, 1, 1])
    on.checkbox("Also train a control run", key="train_control_on")
    pick.selectbox("The control differs in", [*xp.CONTROLS, CUSTOM], key="train_control_pick",
                   format_func=lambda k: xp.CONTROL_TITLES.get(k, "custom (KEY=VALUE)"))
    custom.text_input("Custom control", key="train_control_custom",
                      placeholder="e.g. loss_weights=race=1 epochs=6",
                      help="KEY=VALUE settings separated by spaces, as `train --control`; "
                           "KEY is one of: " + ", ".join(xp.VARIABLE))


def wants_control() -> bool:
    """Whether the submitted form has "Also train a control run" ticked."""
    return bool(st.session_state.get("train_control_on"))


def chosen_control() -> dict[str, object]:
    """The control the submitted form asks for.

    Raises:
        ValueError: a custom control that does not parse (naming the bad item).
    """
    pick = st.session_state.get("train_control_pick", next(iter(xp.CONTROLS)))
    if pick != CUSTOM:
        return dict(xp.CONTROLS[pick])
    text = st.session_state.get("train_control_custom", "").strip()
    if not text:
        raise ValueError("the custom control is empty: type KEY=VALUE settings, e.g. "
                         "balance=none, or pick a ready-made control")
    return xp.parse_control(text.split())


def _watch(run_id: str) -> None:
    st.session_state["train_watch"] = run_id


def start_experiment_ui(config: TrainConfig) -> list[rk.RunInfo] | None:
    """Queue ``config`` and the control the form asks for; remember the experiment for
    :func:`experiment_box_ui` and watch the run as configured. A double click returns
    the first experiment. A bad control is an error on the page; nothing is queued."""
    try:
        started = xp.start_experiment(config, control=chosen_control(),
                                      actor=signin.current_actor())
    except (ValueError, PermissionError) as exc:
        st.error(f"Could not start the experiment: {exc}")
        return None
    _watch(started[0].id)
    st.session_state["train_experiment"] = started[0].experiment
    return started


def experiment_box_ui(found: list[rk.RunInfo]) -> None:
    """The experiment started last from this page: its runs' states (redrawn every
    REFRESH_S s), where to watch them, and Compare once both have finished."""
    experiment = st.session_state.get("train_experiment")
    group = xp.group_experiments(found).get(experiment)
    if not group or "treatment" not in group or "control" not in group:
        return
    treatment, control = group["treatment"], group["control"]
    with st.container(border=True):
        text, button = st.columns([3, 1], vertical_alignment="center")
        with text:
            _live_experiment_state(experiment, (treatment.id, control.id),
                                   drawn=(treatment.state, control.state))
        with button:  # outside the fragment: st.switch_page from a run_every fragment's
            # button can leave the next page blank (seen on Streamlit 1.67)
            experiment_compare_button(group, key="train_experiment_compare")
        runs_page, watch, _ = st.columns(3)
        with runs_page:
            if st.button("Watch on the Runs page", key="train_experiment_runs",
                         icon=":material/list:"):
                st.switch_page(RUNS_PAGE, query_params={"experiment": experiment})
        with watch:
            other = control if st.session_state.get("train_watch") == treatment.id else treatment
            st.button(f"Watch the {xp.ROLE_TITLES[other.experiment_role]} run here",
                      key="train_experiment_watch", on_click=_watch, args=(other.id,))


def _experiment_state(experiment: str, ids: tuple[str, str], *, drawn: tuple[str, str]) -> None:
    """The two runs' states (read afresh: ``show``). When they are no longer the states
    the page was ``drawn`` with, the whole page reruns, so its Compare button, queue and
    picker follow."""
    try:
        treatment, control = (rk.show(run_id) for run_id in ids)
    except ValueError:  # one was deleted meanwhile
        st.caption(f"A run of experiment {experiment} was deleted.")
        return
    if (treatment.state, control.state) != drawn:
        st.rerun(scope="app")
    st.markdown(f"**Experiment {experiment}**: `{treatment.id}` {xp.ROLE_TITLES['treatment']}, "
                f"as configured (*{treatment.state}*), and `{control.id}` control "
                f"(*{control.state}*; {xp.describe_control(treatment, control)}). They train "
                "one after the other; compare them when both have finished.")


REFRESH_S = 2
_live_experiment_state = st.fragment(run_every=REFRESH_S)(_experiment_state)


# ----------------------------------------------------------------------------- Runs page
def experiment_label(run: rk.RunInfo) -> str | None:
    """``exp-… · control`` for a run in an experiment, else None."""
    if not run.experiment:
        return None
    return f"{run.experiment} · {xp.ROLE_TITLES.get(run.experiment_role, run.experiment_role)}"


def with_experiments(table: pd.DataFrame, found: list[rk.RunInfo]) -> pd.DataFrame:
    """The runs table with an ``experiment`` column after ``state``."""
    labels = {run.id: experiment_label(run) for run in found}
    out = table.copy()
    out.insert(out.columns.get_loc("state") + 1, "experiment", out["id"].map(labels))
    return out


def experiment_filter_ui(table: pd.DataFrame) -> pd.DataFrame:
    """Sidebar filter on experiments (``?experiment=ID`` preselects one)."""
    ids = sorted({str(label).split(" · ")[0] for label in table["experiment"].dropna()},
                 reverse=True)
    if not ids:
        return table
    asked = st.query_params.get("experiment")
    chosen = st.sidebar.multiselect("Experiment", ids, key="runs_filter_experiment",
                                    default=[asked] if asked in ids else None)
    if not chosen:
        return table
    return table[table["experiment"].fillna("").str.split(" · ").str[0].isin(chosen)]


def experiments_ui(found: list[rk.RunInfo], *, shown: set[str]) -> None:
    """One line per experiment with a run in ``shown`` (the filtered table): its two
    runs, what the control changes, and a button to compare them."""
    groups = {experiment: group for experiment, group in xp.group_experiments(found).items()
              if any(run.id in shown for run in group.values())}
    if not groups:
        return
    st.subheader("Experiments")
    for experiment, group in groups.items():
        text, button = st.columns([4, 1], vertical_alignment="center")
        parts = [f"`{group[role].id}` {xp.ROLE_TITLES[role]} (*{group[role].state}*)"
                 for role in xp.ROLES if role in group]
        change = (xp.describe_control(group["treatment"], group["control"])
                  if len(group) == len(xp.ROLES) else "its other run was deleted")
        text.markdown(f"**{experiment}**: {' vs '.join(parts)} · {change}")
        with button:
            experiment_compare_button(group, key=f"runs_experiment_compare_{experiment}")


def pair_compare_ui(chosen: list[str]) -> None:
    """Open the picked runs on the Compare page (the first picked is the baseline)."""
    if len(chosen) >= 2:
        open_compare_button(chosen[0], chosen[1:], key="runs_compare_open",
                            help=f"baseline {chosen[0]} (the first picked) against "
                                 f"{', '.join(chosen[1:])}")
