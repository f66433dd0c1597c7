"""kill -9 in the middle of a run (issue 17): the window starts in a subprocess (offscreen) with its
real settings file (QSettings(ORG, APP): $XDG_CONFIG_HOME/LLaDA Studio/llada-studio.conf, the
HOME and XDG_CONFIG_HOME of a temporary folder), loads a tiny model, sets a prompt and settings
of its own for this round, starts a generation long enough to be cut (512 tokens in 512 steps),
saves its settings every 10 ms while it runs (the window itself saves at each Generate and at
close: this makes a kill in the middle of a write likely), and gets SIGKILL at a random moment
of the run. Then: the settings file must parse (QSettings status NoError) and hold this round's
prompt and model folder, and a new window (another subprocess, autoload from those settings)
must start, load the saved model, show the saved prompt and report no settings problem. Last, a
corrupted settings file: the next window resets it with a message (and keeps the old one as
.corrupt), loads, and exits normally.

    QT_QPA_PLATFORM=offscreen python3 tests/bench/kill_mid_run.py --kills 25

tests/app/test_kill.py runs it in reduced form (2 kills) on every CI run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETTINGS_FILE = ("LLaDA Studio", "llada-studio.conf")  # app/__init__.py ORG_NAME, SETTINGS_APP


@dataclass
class KillReport:
    kills: int = 0
    errors: list[str] = field(default_factory=list)
    kill_after_s: list[float] = field(default_factory=list)  # how far into the run each kill came
    corrupt_reset: bool = False


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local" / "share"), QT_QPA_PLATFORM="offscreen")
    env.pop("LLADA_STUDIO_MODELS", None)
    return env


def settings_path(home: Path) -> Path:
    return home / ".config" / SETTINGS_FILE[0] / SETTINGS_FILE[1]


# -- the two children ------------------------------------------------------------------------------


def child_run(model: str, engine: str, prompt: str) -> int:
    """Load `model`, set this round's prompt, generate, print RUNNING at the first step shown, and
    keep saving the settings until killed."""
    from PySide6.QtCore import QTimer

    from llada_studio.app.launcher import _app
    from llada_studio.app.window import MainWindow, make_settings

    app = _app()
    win = MainWindow(settings=make_settings(), model_dir=model, engine=engine, threads=1)
    win.dialogs = False
    win.show()
    shown = {"running": False}

    def loaded(_info: Any) -> None:
        win.chat_mode.setChecked(False)
        win.controls.set_params(dict(gen_length=512, block_length=512, max_steps=512, temperature=0.0, seed=0))
        win.prompt.setPlainText(prompt)
        if not win.generate():
            print("REFUSED", flush=True)
            app.exit(3)

    def step(_update: Any) -> None:
        if not shown["running"]:
            shown["running"] = True
            print("RUNNING", flush=True)

    def finished(_outcome: Any) -> None:
        print("FINISHED", flush=True)  # the run was not cut: the parent reports it
        app.exit(4)

    win.modelLoaded.connect(loaded)
    win.stepShown.connect(step)
    win.runFinished.connect(finished)
    win.loadFailed.connect(lambda f: (print(f"LOADFAILED {f.problem}", flush=True), app.exit(5)))
    saver = QTimer()
    saver.timeout.connect(win.save_settings)
    saver.start(10)
    return int(app.exec())


def child_check(engine: str) -> int:
    """Start a window from the saved settings (autoload), print what it restored as JSON, exit."""
    from PySide6.QtCore import QTimer

    from llada_studio.app.launcher import _app
    from llada_studio.app.window import MainWindow, make_settings

    app = _app()
    win = MainWindow(settings=make_settings(), engine=engine, threads=1)
    win.dialogs = False
    win.show()
    out: dict[str, Any] = {"settings_problem": win._settings_problem, "status": win.statusBar().currentMessage()}

    def done(**more: Any) -> None:
        out.update(more, prompt=win.prompt.toPlainText())
        print("RESULT " + json.dumps(out), flush=True)
        win.close()
        app.quit()

    win.modelLoaded.connect(lambda info: done(model=info.name, path=info.path))
    win.loadFailed.connect(lambda f: done(load_failed=f.problem))
    QTimer.singleShot(60_000, lambda: done(timeout=True))
    if win.state == "empty" and not win._loading:
        QTimer.singleShot(0, lambda: done(no_model=True))
    return int(app.exec())


# -- the parent ------------------------------------------------------------------------------------


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=str(Path(__file__).resolve().parents[2]))


def _wait_for(proc: subprocess.Popen[str], word: str, timeout: float) -> tuple[bool, str]:
    """Read the child's output until a line starts with `word` (True) or it ends (False)."""
    import selectors

    seen: list[str] = []
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not sel.select(timeout=max(0.0, end - time.monotonic())):
            break
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(word):
            return True, line
    return False, "".join(seen[-30:])


def check_settings(path: Path, prompt: str, model: str) -> str | None:
    """None if the file parses and holds this round's prompt and model folder, else what is wrong."""
    from PySide6.QtCore import QSettings

    if not path.is_file():
        return f"no settings file at {path}"
    s = QSettings(str(path), QSettings.Format.IniFormat)
    if s.status() != QSettings.Status.NoError:
        return f"the settings file does not parse (status {s.status()}): {path.read_bytes()[:200]!r}"
    got_prompt, got_model = s.value("prompt", "", type=str), s.value("model_dir", "", type=str)
    if got_prompt != prompt or got_model != model:
        return f"the settings hold prompt {got_prompt!r} and model_dir {got_model!r}, not {prompt!r} and {model!r}"
    return None


def _stacks_of(proc: subprocess.Popen[str]) -> str:
    """What a child that does not end is doing: its threads' Python stacks (faulthandler on
    SIGUSR1, registered by the children), then it is killed."""
    try:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2.0)
    except ProcessLookupError:
        pass
    proc.kill()
    out, _ = proc.communicate()
    return (out or "")[-4000:]


def restart(env: dict[str, str], engine: str, timeout: float) -> dict[str, Any]:
    proc = _child(["--child", "check", "--engine", engine], env)
    ok, line = _wait_for(proc, "RESULT ", timeout)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return {"error": f"the restarted window did not exit (said RESULT: {ok}); its threads: {_stacks_of(proc)}"}
    if not ok:
        return {"error": f"the restarted window said nothing useful (status {proc.returncode}): {line[-1500:]}"}
    result: dict[str, Any] = json.loads(line[len("RESULT "):])
    result["returncode"] = proc.returncode
    return result


def run_kills(home: Path, model: Path, kills: int, engine: str = "cpp", seed: int = 0,
              timeout: float = 120.0) -> KillReport:
    rng = random.Random(seed)
    env = _env(home)
    report = KillReport()
    for i in range(kills):
        prompt = f"round {i}: It was a bright cold day in April"
        proc = _child(["--child", "run", "--model", str(model), "--engine", engine, "--prompt", prompt], env)
        started, line = _wait_for(proc, "RUNNING", timeout)
        if not started:
            proc.kill()
            proc.wait()
            report.errors.append(f"kill {i}: the run never started: {line[-1500:]}")
            continue
        t0 = time.monotonic()
        time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is not None:
            report.errors.append(f"kill {i}: the window ended by itself before the kill (status {proc.returncode})")
            continue
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        report.kill_after_s.append(round(time.monotonic() - t0, 3))
        if proc.stdout is not None:
            proc.stdout.close()
        report.kills += 1
        problem = check_settings(settings_path(home), prompt, str(model))
        if problem:
            report.errors.append(f"kill {i}: {problem}")
            continue
        got = restart(env, engine, timeout)
        if got.get("error") or got.get("settings_problem") or got.get("model") != model.name or \
                got.get("prompt") != prompt or got.get("returncode") != 0:
            report.errors.append(f"kill {i}: the next window: {got}")
    # A corrupted settings file: reset with a message, not a crash.
    path = settings_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"[General]\nthreads=\xff\xfe\x00garbage\n[params\nseed=\"unterminated\n\x00\x01")
    got = restart(env, engine, timeout)
    kept = path.with_name(path.name + ".corrupt")
    if got.get("error") or got.get("returncode") != 0:
        report.errors.append(f"corrupted settings: {got}")
    elif "could not be read and was reset" not in str(got.get("settings_problem")) or not kept.is_file():
        report.errors.append(f"corrupted settings: no reset message or no .corrupt copy: {got}")
    else:
        report.corrupt_reset = True
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=25)
    ap.add_argument("--engine", default="cpp", choices=["cpp", "torch", "auto"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", choices=["run", "check"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--prompt", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:  # a child that hangs can be asked where (_stacks_of)
        import faulthandler

        faulthandler.register(signal.SIGUSR1, all_threads=True)
    if args.child == "run":
        return child_run(args.model, args.engine, args.prompt)
    if args.child == "check":
        return child_check(args.engine)
    import tempfile

    from llada_studio.core.checkpoint_writer import random_checkpoint

    with tempfile.TemporaryDirectory(prefix="kill-mid-run-") as tmp:
        home = Path(tmp) / "home"
        model = random_checkpoint(Path(tmp) / "tiny", max_sequence_length=1024)
        t0 = time.monotonic()
        report = run_kills(home, model, args.kills, args.engine, args.seed)
        print(json.dumps(dict(report.__dict__, seconds=round(time.monotonic() - t0, 1)), indent=1))
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
