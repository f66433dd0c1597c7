"""The GPU job: train several runs side by side on one GPU, keep the one with the lowest
validation ELBO loss, and put its weights (<=15 MB chunks), all summaries (one file) and the
logs under an output folder (the device tool brings back at most 8 files).

    python3 -m core.training.device_job --out "$OUT" --budget-s 500 \
        --job "s384=--size s384" --job "m512=--size m512"
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path("work_data/arrays"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/llada_runs"))
    ap.add_argument("--job", action="append", default=[], help="NAME=train.py arguments (repeatable)")
    ap.add_argument("--budget-s", type=float, default=500.0)
    ap.add_argument("--extra", default="", help="more arguments for every train process")
    args = ap.parse_args(argv)
    jobs = dict(j.split("=", 1) for j in args.job) or {"s384": "--size s384", "m512": "--size m512"}

    t0 = time.time()
    procs = {}
    for name, job_args in jobs.items():
        run = args.work / name
        run.mkdir(parents=True, exist_ok=True)
        cmd = (
            [
                sys.executable,
                "-m",
                "core.training.train",
                "--data",
                str(args.data),
                "--out",
                str(run),
                "--budget-s",
                str(args.budget_s),
            ]
            + shlex.split(job_args)
            + shlex.split(args.extra)
        )
        procs[name] = subprocess.Popen(cmd, stdout=(run / "stdout.txt").open("w"), stderr=subprocess.STDOUT)
    deadline = t0 + args.budget_s + 40
    for p in procs.values():
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    args.out.mkdir(parents=True, exist_ok=True)
    results, summaries = {}, {}
    with (args.out / "logs.txt").open("w", encoding="utf-8") as logs:
        for name in jobs:
            run = args.work / name
            logs.write(f"===== {name} (exit {procs[name].returncode})\n")
            logs.write((run / "stdout.txt").read_text(encoding="utf-8", errors="replace"))
            s = run / "summary.json"
            if s.is_file():
                summaries[name] = json.loads(s.read_text())
                results[name] = summaries[name]["best"]["val_elbo"]
    (args.out / "summaries.json").write_text(json.dumps(summaries, indent=1) + "\n")
    if not results:
        print("no run finished", flush=True)
        return
    winner = min(results, key=results.get)
    dest = args.out / "model"
    dest.mkdir(exist_ok=True)
    for f in sorted((args.work / winner / "best").glob("weights-*.safetensors")):
        shutil.copy(f, dest / f.name)
    (args.work / "winner.txt").write_text(winner)
    with (args.out / "logs.txt").open("a", encoding="utf-8") as logs:
        logs.write(f"WINNER {winner} {json.dumps(results)}\n")
    print(f"winner {winner}: {results} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
