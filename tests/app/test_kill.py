"""kill -9 mid-run, reduced form of tests/bench/kill_mid_run.py (2 kills; the script's default is
25): the window in a subprocess with its real settings file under a temporary HOME /
XDG_CONFIG_HOME, SIGKILL at a random moment of a generation; the settings file still parses and
holds the round's prompt and model, and a new window starts from it (loads the model, shows the
prompt, no settings problem). Then a corrupted settings file: the next window resets it with a
message and keeps the old one as .corrupt, and exits normally."""

import importlib.util
import sys
from pathlib import Path

from llada_studio.core.engine import cpp_engine_available

HERE = Path(__file__).resolve().parents[1] / "bench" / "kill_mid_run.py"


def test_kill_9_mid_run_leaves_the_settings_readable(tmp_path, tiny_ckpt) -> None:  # noqa: ANN001
    spec = importlib.util.spec_from_file_location("kill_mid_run", HERE)
    assert spec and spec.loader
    kill = importlib.util.module_from_spec(spec)
    sys.modules["kill_mid_run"] = kill  # dataclasses look their module up there
    spec.loader.exec_module(kill)
    engine = "cpp" if cpp_engine_available() else "torch"
    report = kill.run_kills(tmp_path / "home", tiny_ckpt, kills=2, engine=engine, seed=17)
    assert report.errors == []
    assert report.kills == 2 and report.corrupt_reset
    assert kill.settings_path(tmp_path / "home").with_name("llada-studio.conf.corrupt").is_file()
