"""Benchmark 20 (issue 26): how each stage's cost grows with the set, on IMDB-WIKI-shaped
sets of N faces (bench/make_imdbwiki.py), N = 10k ... 500k.

Each stage runs as its own process, so its peak RSS is its own (``os.wait4``'s
``ru_maxrss``), with the wall time and the machine's load before it. Stages, in order:
- ``read``: ``load_dataset("imdbwiki")``: the .mat, the cleaning, the manifest and split
  (timed inside the process too: ``inner``, without the interpreter's start);
- ``summary``: ``python -m modelkit data summary --json`` (the read, then the counts and
  the balance plan of one epoch);
- ``evaluate``: ``python -m modelkit evaluate --split test --json`` on a run whose test
  split is a tenth of N (a set's own split: 80/10/10), with its bootstrap intervals;
- ``compare``: ``python -m modelkit compare A B --split test --json`` of two such runs
  (the second changes a tenth of the race predictions: correlated, as a remedy and its
  baseline are), with the paired bootstrap.
The two runs are contract-shaped predictions tables (bench_compare.write_pair), so these
stages time the evaluation, not a model.

Passes are interleaved over the sizes (pass 1 at every N, then pass 2 ...). Prints one
row per stage and N (median and range of wall, the largest peak RSS) and the fitted
growth exponent: the slope of log(wall) on log(N) (1 is linear).

    .venv/bin/python bench/bench_scale.py --sizes 10000 50000 100000 500000 --passes 3 \\
        --work /tmp/imdb-scale
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# In-process timing too: the interpreter's start and imports (about 2 s) would flatten the
# growth exponent at small N.
READ = ("import sys, time, json; from modelkit.data import load_dataset; t = time.perf_counter(); "
        "d = load_dataset('imdbwiki', root=sys.argv[1]); "
        "print(json.dumps({'inner_s': time.perf_counter() - t, 'kept': len(d.manifest), "
        "'skipped': len(d.skipped)}))")


STAGES = ("read", "summary", "evaluate", "compare")


def stage_commands(folder: Path, pair: list[Path] | None) -> dict[str, list[str]]:
    modelkit = [sys.executable, "-m", "modelkit"]
    commands = {
        "read": [sys.executable, "-c", READ, str(folder)],
        "summary": [*modelkit, "data", "summary", "--source", "imdbwiki", "--root", str(folder),
                    "--json"],
    }
    if pair is not None:
        commands["evaluate"] = [*modelkit, "evaluate", "--run-dir", str(pair[0]), "--split", "test",
                                "--json"]
        commands["compare"] = [*modelkit, "compare", str(pair[0]), str(pair[1]), "--split", "test",
                               "--json"]
    return commands


def run_pair(work: Path, n: int) -> list[Path]:
    """The two runs whose test split is a tenth of ``n`` (written once, kept).

    Written by a child process: a child's peak RSS (``ru_maxrss``) starts at its parent's
    RSS when it forks, so this process stays small (numpy only) for the stages' figures
    to be their own."""
    root = work / f"runs-{n}"
    if not (root / f"other-{n // 10}").exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'bench'); "
                        "from pathlib import Path; from bench_compare import write_pair; "
                        f"write_pair(Path({str(root)!r}), {n // 10})"], cwd=REPO, check=True)
    return [root / f"base-{n // 10}", root / f"other-{n // 10}"]


def measure(command: list[str]) -> dict:
    """Run ``command``; its wall time (s), peak RSS (MiB) and the load before it."""
    load = os.getloadavg()[0]
    # Output to files, not pipes: a command that prints more than a pipe holds (evaluate
    # --json) would block on its write while this process waits for it to end.
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=REPO, stdout=out_file, stderr=err_file,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{command[:4]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    text = out.decode().strip()
    inner = None
    if text.startswith("{") and "inner_s" in text:
        inner = json.loads(text)["inner_s"]
    return {"wall_s": wall, "inner_s": inner, "rss_mib": usage.ru_maxrss / 1024, "load": load,
            "out": text[-300:]}


def growth(sizes: list[int], walls: list[float]) -> float:
    """The slope of log(wall) against log(N)."""
    return float(np.polyfit(np.log(sizes), np.log(walls), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000, 500_000])
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--work", type=Path, required=True, help="where the sets are made (kept)")
    parser.add_argument("--json", type=Path, default=None, help="also write every pass here")
    args = parser.parse_args()

    folders = {}
    for n in args.sizes:
        out = args.work / f"imdb-{n}"
        if not (out / "imdb_crop" / "imdb.mat").exists():
            made = measure([sys.executable, "bench/make_imdbwiki.py", str(n), str(out), "--json"])
            print(f"made N={n:,} in {made['wall_s']:.1f} s: {made['out'].strip()}", flush=True)
        folders[n] = out / "imdb_crop"
    pairs = {n: run_pair(args.work, n) if {"evaluate", "compare"} & set(args.stages) else None
             for n in args.sizes}

    passes: dict[tuple[str, int], list[dict]] = {}
    for number in range(args.passes):
        for n in args.sizes:
            for stage, command in stage_commands(folders[n], pairs[n]).items():
                if stage in args.stages:
                    result = measure(command)
                    passes.setdefault((stage, n), []).append(result)
                    print(f"pass {number + 1} {stage} N={n:,}: {result['wall_s']:.2f} s, "
                          f"{result['rss_mib']:.0f} MiB, load {result['load']:.2f}", flush=True)

    print("\n| stage | N | wall s, median (range) | in-process s, median | peak RSS MiB | load before |")
    print("|---|---|---|---|---|---|")
    for stage in args.stages:
        medians, inner = [], []
        for n in args.sizes:
            rows = passes[(stage, n)]
            walls = [r["wall_s"] for r in rows]
            medians.append(float(np.median(walls)))
            inside = [r["inner_s"] for r in rows if r["inner_s"] is not None]
            inner.append(float(np.median(inside)) if inside else None)
            print(f"| {stage} | {n:,} | {np.median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f}) | "
                  f"{'–' if inner[-1] is None else f'{inner[-1]:.2f}'} | "
                  f"{max(r['rss_mib'] for r in rows):.0f} | "
                  f"{min(r['load'] for r in rows):.2f}–{max(r['load'] for r in rows):.2f} |")
        if len(args.sizes) > 1:
            exponent = growth(args.sizes, inner if None not in inner else medians)
            print(f"| {stage} | growth exponent ({'in-process' if None not in inner else 'wall'}) "
                  f"| {exponent:.2f} | | | |")
    if args.json:
        args.json.write_text(json.dumps({f"{s}@{n}": v for (s, n), v in passes.items()}, indent=1))


if __name__ == "__main__":
    main()
