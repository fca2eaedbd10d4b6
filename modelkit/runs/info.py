"""What the registry and a run's folder say about one run together: :class:`RunInfo`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from modelkit.runfolder import ACTIVE, FINAL


@dataclass
class RunInfo:
    """One run as the registry and its folder describe it (what list/show return).

    ``config`` is the submitted :class:`~modelkit.config.TrainConfig` as a dict,
    overlaid with the run's ``config.json`` once the trainer resolved it (which adds
    ``race_classes``, ``n_train`` ...). ``epoch`` counts completed epochs; ``batch``
    is the batch reached in the epoch under way. ``experiment`` is the id shared by the
    two runs of a remedy experiment and ``experiment_role`` this run's part in it
    (``treatment`` or ``control``, see :mod:`modelkit.runs.experiments`); None otherwise.
    ``kind`` is ``train``, or ``predict`` for a prediction job (:mod:`modelkit.runs.jobs`)
    whose ``parent`` is the id of the run whose model it runs. ``started_by``,
    ``cancelled_by`` and ``resumed_by`` name who did it last (a signed-in address, or
    ``os:<name>`` from the command line; None for a run from before they were recorded).
    """

    id: str
    state: str
    pid: int | None
    run_dir: str
    config: dict = field(default_factory=dict)
    created: float | None = None
    started: float | None = None
    ended: float | None = None
    heartbeat: float | None = None
    epoch: int | None = None
    epochs: int | None = None
    batch: int | None = None
    steps_per_epoch: int | None = None
    error: str | None = None
    traceback: str | None = None
    attempts: int = 0
    resume: bool = False
    queue_position: int | None = None
    stalled: bool = False
    experiment: str | None = None
    experiment_role: str | None = None
    kind: str = "train"
    parent: str | None = None
    started_by: str | None = None
    cancelled_by: str | None = None
    resumed_by: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE

    @property
    def is_final(self) -> bool:
        return self.state in FINAL
