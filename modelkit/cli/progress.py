"""A one-line progress bar on stderr for the commands' long steps (stdout stays clean
for ``--json``)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """``bar(done, total)`` redraws ``<what> [####....] done/total <unit>, rate/s``."""

    def __init__(self, what: str = "predicting", *, unit: str = "images", width: int = 30):
        self.what, self.unit, self.width, self.started = what, unit, width, time.time()

    def __call__(self, done: int, total: int) -> None:
        filled = int(self.width * done / max(total, 1))
        rate = done / max(time.time() - self.started, 1e-9)
        sys.stderr.write(f"\r{self.what} [{'#' * filled}{'.' * (self.width - filled)}] "
                         f"{done:,}/{total:,} {self.unit}, {rate:,.0f}/s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
