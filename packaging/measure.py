"""Measure what packaging/build.py made; prints a Markdown table for packaging/RESULTS.md.

    python packaging/measure.py [--runs 5] [--model DIR]

- bundle size unpacked (packaging/build/dist/llada-studio), the .deb and the .tar.gz sizes;
- `--self-test` wall time (process start to exit), offscreen;
- launch -> window shown: the bundle started with no arguments (`--gui --model DIR` when --model
  is given), offscreen, with LLADA_STUDIO_TIMING=1 so that the bundle's runtime hook
  (packaging/pyi_rth_timing.py) prints the time of the window's first expose; the figure is that
  time minus the time just before the process was started. LLADA_STUDIO_QUIT_ON_SHOWN=1 then
  closes it. Settings go to a temporary XDG_CONFIG_HOME so a remembered model cannot interfere.

Runs are warm (files in the page cache: the build has just read them); the first run is shown
apart as the coldest one measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "packaging" / "build"
NAME = "llada-studio"


def dir_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def fmt_size(n: int) -> str:
    return f"{n / 1e6:.1f} MB ({n / 2**20:.1f} MiB)"


def stats(xs: list[float]) -> str:
    return (
        f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, first {xs[0]:.2f}; n={len(xs)})"
    )


def self_test_times(exe: Path, model: str | None, runs: int, env: dict[str, str]) -> list[float]:
    cmd = [str(exe), "--self-test"] + (["--model", model] if model else [])
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if res.returncode != 0:
            raise SystemExit(f"--self-test failed:\n{res.stdout}\n{res.stderr}")
    print(res.stdout.strip(), file=sys.stderr)
    return times


def window_times(exe: Path, model: str | None, runs: int, env: dict[str, str], platform_: str) -> list[float]:
    cmd = [str(exe)] + (["--gui", "--model", model] if model else [])
    env = dict(env, LLADA_STUDIO_TIMING="1", LLADA_STUDIO_QUIT_ON_SHOWN="1", QT_QPA_PLATFORM=platform_)
    times = []
    for _ in range(runs):
        t0 = time.time()
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        shown = [ln for ln in res.stderr.splitlines() if ln.startswith("LLADA_STUDIO_WINDOW_SHOWN ")]
        if not shown:
            raise SystemExit(f"no window-shown line (exit {res.returncode}):\n{res.stderr[-3000:]}")
        times.append(float(shown[0].split()[1]) - t0)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--platform",
        default="offscreen",
        help="Qt platform for the window timing: offscreen, or xcb with DISPLAY set (e.g. under Xvfb)",
    )
    ap.add_argument("--exe", type=Path, default=None, help="the executable to time (default: the built bundle's)")
    args = ap.parse_args()

    bundle = args.out / "dist" / NAME
    exe = args.exe or bundle / (f"{NAME}-cli.exe" if sys.platform.startswith("win") else NAME)
    if not exe.is_file():
        raise SystemExit(f"no bundle at {bundle}: run python packaging/build.py first")
    rows = [("bundle unpacked", fmt_size(dir_size(bundle)), f"du of {bundle.relative_to(ROOT)}")]
    for pattern, label in ((f"{NAME}_*.deb", ".deb"), (f"{NAME}-*.tar.gz", ".tar.gz"), (f"{NAME}-*.zip", ".zip")):
        for p in sorted(args.out.glob(pattern)):
            rows.append((label, fmt_size(p.stat().st_size), p.name))

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=tmp)
        st = self_test_times(exe, args.model, args.runs, env)
        wt = window_times(exe, args.model, args.runs, env, args.platform)
    model = args.model or "the bundled model"
    rows.append(("--self-test wall time", stats(st), f"`{exe} --self-test` ({model}), offscreen"))
    rows.append(
        (
            "launch -> window shown",
            stats(wt),
            f"`{exe.name}` ({model}), QT_QPA_PLATFORM={args.platform}, LLADA_STUDIO_TIMING=1",
        )
    )

    print(
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (shared), Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}\n"
    )
    print("| what | value | how |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
