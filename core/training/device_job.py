"""The GPU job: train several sizes side by side on one GPU, keep the one with the lowest
validation ELBO loss, and put its weights (<=15 MB chunks), every size's summary and the logs
under an output folder (the device tool brings back at most 8 files).

    python3 -m core.training.device_job --out "$OUT" --sizes s384,m512 --budget-s 500
"""

from __future__ import annotations

import argparse
import json
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
    ap.add_argument("--sizes", default="s384,m512")
    ap.add_argument("--budget-s", type=float, default=500.0)
    ap.add_argument("--extra", default="", help="more arguments for every train process")
    args = ap.parse_args(argv)

    t0 = time.time()
    sizes = [s for s in args.sizes.split(",") if s]
    procs = {}
    for size in sizes:
        run = args.work / size
        run.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "core.training.train", "--data", str(args.data), "--out", str(run),
               "--size", size, "--budget-s", str(args.budget_s)] + args.extra.split()
        procs[size] = subprocess.Popen(cmd, stdout=(run / "stdout.txt").open("w"), stderr=subprocess.STDOUT)
    deadline = t0 + args.budget_s + 40
    for size, p in procs.items():
        try:
            p.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    with (args.out / "logs.txt").open("w", encoding="utf-8") as logs:
        for size in sizes:
            run = args.work / size
            logs.write(f"===== {size} (exit {procs[size].returncode})\n")
            logs.write((run / "stdout.txt").read_text(encoding="utf-8", errors="replace"))
            s = run / "summary.json"
            if s.is_file():
                shutil.copy(s, args.out / f"summary_{size}.json")
                results[size] = json.loads(s.read_text())["best"]["val_elbo"]
            elif (run / "best").is_dir():
                results[size] = float("inf")
    if not results:
        print("no run finished", flush=True)
        return
    winner = min(results, key=results.get)
    dest = args.out / "model"
    dest.mkdir(exist_ok=True)
    for f in sorted((args.work / winner / "best").glob("weights-*.safetensors")):
        shutil.copy(f, dest / f.name)
    with (args.out / "logs.txt").open("a", encoding="utf-8") as logs:
        logs.write(f"WINNER {winner} {json.dumps(results)}\n")
    print(f"winner {winner}: {results} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
