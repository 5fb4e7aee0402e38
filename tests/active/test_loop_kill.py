"""kill -9 and concurrent use of 'active run': a second caller is refused while the loop runs; a loop killed in the
middle of training resumes its members from their checkpoints instead of starting again."""

import os
import signal
import subprocess
import sys
import time

from hydropimd.active.loop import run_active, stage_state
from tests.active.loop_setup import loop_config, toml_text
from tests.conftest import assert_one_line_error, run_cli
from tests.training.test_train import lcurve_steps


def test_active_run_killed_while_training_resumes_and_refuses_a_second_caller(tmp_path, subtracted_graph, full_table):
    config = loop_config(tmp_path, subtracted_graph, full_table)
    config["training"]["steps"] = 60  # the first checkpoint at step 6, the frozen graph seconds after step 60
    config["stop"]["max_generations"] = 1
    path = tmp_path / "active.toml"
    path.write_text(toml_text(config))
    loop = subprocess.Popen([sys.executable, "-m", "hydropimd", "active", "run", str(path), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    member = tmp_path / "work" / "gen-000" / "committee" / "member-0"
    deadline = time.time() + 300
    while time.time() < deadline and loop.poll() is None and not (member / "checkpoint").exists():
        time.sleep(0.2)
    assert (member / "checkpoint").exists(), "the loop did not reach its first training checkpoint"
    os.killpg(loop.pid, signal.SIGSTOP)  # paused while probed: training cannot finish during the second call's start
    second = run_cli("active", "run", path, "--quiet")
    assert_one_line_error(second, "used by another 'active run'")
    os.killpg(loop.pid, signal.SIGKILL)  # the loop and its dp child, as a node failure would
    loop.wait()
    assert not (member / "graph.pb").exists() and not (tmp_path / "work" / "gen-000" / "state" / "train.json").exists()

    run_active(config, stop_after=(0, "train"))
    train = stage_state(tmp_path / "work", 0, "train")
    assert len(train["models"]) == 2 and all(os.path.exists(m) for m in train["models"])
    assert lcurve_steps(member).count(0) == 1 and max(lcurve_steps(member)) == 60  # resumed, not restarted
