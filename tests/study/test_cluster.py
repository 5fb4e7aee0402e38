"""Studies on a cluster through dpdispatcher: a real one-node Slurm cluster here, and profiles that cannot work.

The ``slurm`` fixture installs Debian's slurm-wlm and munge when they are missing
(``apt-get``, as root; the test is skipped only when that is impossible), then
starts a private munged, slurmctld and slurmd whose key, sockets, state and logs
live in a temporary directory, on free ports, and stops them afterwards.
"""

import contextlib
import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import interruptible, run_cli
from tests.study.test_study import CONFIG as STUDY_CONFIG, graph_with_only_a_type_map

# the small study of test_study.py without its [execution] table (each test adds its own)
CONFIG = STUDY_CONFIG.split("[execution]")[0]

SLURM_EXECUTION = """
[execution]
mode = "dpdispatcher"

[execution.cluster]
batch_type = "Slurm"
context_type = "LocalContext"
remote_root = "{remote}"
queue_name = "debug"
cpu_per_node = 1
python = "{python}"
envs = {{ HYDROPIMD_DATA = "{data}" }}
"""

SLURM_CONF = """\
ClusterName=hydropimd-test
SlurmctldHost=localhost
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
# no cgroups: processes are tracked through /proc, tasks are not confined
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
SchedulerType=sched/builtin
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
NodeName=localhost CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel")


def _install_slurm() -> str | None:
    """Install slurm-wlm and munge if missing; the reason when that cannot be done."""
    if all(shutil.which(x) for x in DAEMONS):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "slurm-wlm and munge are not installed, and installing them needs root and apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge"]
    result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:  # a stale package list: refresh it once
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=900)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return f"cannot install slurm-wlm and munge with apt-get: {last}"
    missing = [x for x in DAEMONS if not shutil.which(x)]
    return f"slurm-wlm and munge were installed but {', '.join(missing)} are missing" if missing else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, what: str, logs, timeout: float = 300.0) -> None:  # a guard for a loaded machine, not a timing
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {p}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
                      for p in logs if p.exists())
    pytest.fail(f"{what} within {timeout:.0f} s\n{tails}")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node Slurm cluster (partition ``debug``, 2 CPUs) on localhost; SLURM_CONF points at it."""
    reason = _install_slurm()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir(mode=0o700)
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(root=root, user=getpass.getuser(), ctld_port=_free_port(), d_port=_free_port()))
    key = root / "munge" / "munge.key"
    subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True, capture_output=True)
    sock = root / "munge" / "munge.socket"
    env = {**os.environ, "SLURM_CONF": str(conf)}
    logs = [root / "munged.out", root / "log" / "slurmctld.log", root / "log" / "slurmd.log"]
    daemons, outputs = [], []

    def start(argv, out):
        outputs.append(open(root / out, "w"))
        daemons.append(subprocess.Popen(argv, stdout=outputs[-1], stderr=subprocess.STDOUT, env=env))

    def ok(argv) -> bool:
        return subprocess.run(argv, capture_output=True, env=env).returncode == 0

    try:
        # --force: munged distrusts the world-writable /tmp above the socket; the key and socket dirs are private
        start(["munged", "--foreground", "--force", f"--socket={sock}", f"--key-file={key}",
               f"--pid-file={root / 'munge' / 'munged.pid'}", f"--seed-file={root / 'munge' / 'munged.seed'}",
               f"--log-file={root / 'munge' / 'munged.log'}"], "munged.out")
        _wait(lambda: sock.exists(), "munged did not start", logs)
        start(["slurmctld", "-D", "-i", "-f", str(conf)], "slurmctld.out")
        _wait(lambda: ok(["scontrol", "ping"]), "slurmctld did not answer", logs)
        start(["slurmd", "-D", "-N", "localhost", "-f", str(conf)], "slurmd.out")
        _wait(lambda: subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True,
                                     env=env).stdout.strip() == "idle", "the node did not become idle", logs)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SLURM_CONF", str(conf))  # for sbatch/squeue run by hydropimd (and its child processes)
            yield {"root": root, "conf": conf, "env": env}
    finally:
        subprocess.run(["scancel", "--user", getpass.getuser()], capture_output=True, env=env)
        for process in reversed(daemons):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for out in outputs:
            out.close()


def _slurm_config(tmp_path, published, config: str = CONFIG.format(p1=120)) -> str:
    return config + SLURM_EXECUTION.format(remote=tmp_path / "remote", python=sys.executable, data=published)


def test_study_runs_on_slurm(tmp_path, published, slurm):
    config = tmp_path / "study.toml"
    config.write_text(_slurm_config(tmp_path, published))
    result = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [r["status"] for r in summary["ran"]] == ["done", "done"], summary["ran"]
    assert [r["status"] for r in summary["status"]] == ["done", "done"]
    names = [r["name"] for r in summary["ran"]]
    for r in summary["ran"]:
        run = tmp_path / "s" / "runs" / r["name"]
        assert r["run_dir"] == str(run) and r["steps_done"] == 500
        assert len((run / "table.csv").read_text().splitlines()) == 1 + 500 // 5  # header + one row per stride
        assert json.loads((run / "state.json").read_text())["step"] == 500
        assert any((run / "checkpoints").iterdir())  # directories come back too
        assert (run / "job.out").exists() and (run / "job.err").exists() and not (run / "failed.json").exists()
    report = tmp_path / "s" / "report"
    assert (report / "report.md").exists() and (report / "report.html").exists()
    assert "| 300 | 120 | H | 1 |" in (report / "report.md").read_text()

    # the jobs went through Slurm, named after their runs
    jobs = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%j %T"], capture_output=True, text=True).stdout
    assert all(f"{name} COMPLETED" in jobs for name in names), jobs
    # dpdispatcher's work directory is gone; its log is in the study, not in the current directory
    assert list((tmp_path / "remote").iterdir()) == []
    assert (tmp_path / "s" / "dpdispatcher.log").exists()

    # nothing is submitted again for finished runs
    again = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet")
    assert again.returncode == 0 and json.loads(again.stdout)["ran"] == []


def test_failed_run_on_slurm_gets_the_reason(tmp_path, published, slurm):
    # passes the check of the study file (a graph holding a type map), fails to load in the job
    (tmp_path / "broken.pb").write_bytes(graph_with_only_a_type_map())
    config = tmp_path / "study.toml"
    text = CONFIG.format(p1=120).replace("[120, 200]", "[120]").replace("published:models/subtracted/graph.pb",
                                                                          "broken.pb")
    config.write_text(_slurm_config(tmp_path, published, text))
    result = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet")
    run = tmp_path / "s" / "runs" / "T300K-P120GPa-H-1beads"
    assert result.returncode == 3 and f"1 run failed; see {run / 'failed.json'}" in result.stderr, result.stderr
    [ran] = json.loads(result.stdout)["ran"]  # the summary is printed all the same
    assert ran["status"] == "failed" and ran["kind"] == "input"  # the worker's own record, from the cluster
    failed = json.loads((run / "failed.json").read_text())
    assert failed["exit_status"] == 2 and failed["kind"] == "input" and "cannot load model" in failed["message"]
    status = run_cli("study", "status", config, "--dir", tmp_path / "s", "--json")
    [row] = json.loads(status.stdout)["runs"]
    assert row["status"] == "failed" and row["reason"] == failed["message"]


def _remote_checkpoint(tmp_path) -> bool:
    """Whether a job has written its first checkpoint on the "cluster" side."""
    for state in (tmp_path / "remote").glob("*/runs/*/state.json"):
        with contextlib.suppress(OSError, ValueError):
            if json.loads(state.read_text())["step"] > 0:
                return True
    return False


def _study_past_its_first_checkpoint(tmp_path, published, slurm, pressure: int):
    """A one-run study (its own pressure, so its own job name) started in the background; returns once the
    job has written its first checkpoint.  Returns the config file and the study process."""
    config = tmp_path / "study.toml"
    config.write_text(_slurm_config(tmp_path, published, CONFIG.format(p1=pressure).replace(f"[{pressure}, 200]",
                                                                                            f"[{pressure}]")))
    command = [sys.executable, "-m", "hydropimd", "study", "run", str(config), "--dir", str(tmp_path / "s"), "--quiet"]
    study = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    _wait(lambda: _remote_checkpoint(tmp_path), "the job wrote no checkpoint", [slurm["root"] / "log" / "slurmd.log"],
          timeout=120)
    return config, study


def _resumes_to_the_end(config, tmp_path, run) -> None:
    """The stopped run shows as partial, and the next call finishes it with every row once."""
    status = run_cli("study", "status", config, "--dir", tmp_path / "s", "--json")
    assert [r["status"] for r in json.loads(status.stdout)["runs"]] == ["partial"]
    again = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet")
    assert again.returncode == 0, again.stderr
    [ran] = json.loads(again.stdout)["ran"]
    assert ran["status"] == "done" and ran["steps_done"] == 500
    assert len((run / "table.csv").read_text().splitlines()) == 1 + 500 // 5  # resumed rows, none lost or doubled


def test_run_killed_at_walltime_resumes_on_the_next_call(tmp_path, published, slurm):
    """A job ended by the batch system (scancel, as at its walltime) fails; the next call resumes its checkpoint."""
    config, study = _study_past_its_first_checkpoint(tmp_path, published, slurm, 165)
    name = "T300K-P165GPa-H-1beads"  # not the name of another test's jobs
    subprocess.run(["scancel", "--name", name], check=True)
    _, err = study.communicate(timeout=120)
    run = tmp_path / "s" / "runs" / name
    assert study.returncode == 3 and "1 run failed" in err, err
    assert json.loads((run / "failed.json").read_text())["retryable"]  # the worker's record, or the job's end
    assert 0 < json.loads((run / "state.json").read_text())["step"] < 500
    started = (run / "init.extxyz").stat().st_mtime_ns
    _resumes_to_the_end(config, tmp_path, run)
    assert (run / "init.extxyz").stat().st_mtime_ns == started  # resumed, not started again
    assert not (run / "failed.json").exists()


def test_interrupted_study_cancels_its_jobs_and_resumes(tmp_path, published, slurm):
    config, study = _study_past_its_first_checkpoint(tmp_path, published, slurm, 150)
    study.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = study.communicate(timeout=90)
    assert study.returncode == 130 and "interrupted" in err, err
    name = "T300K-P150GPa-H-1beads"
    run = tmp_path / "s" / "runs" / name
    jobs = subprocess.run(["squeue", "-h", "-t", "all", "-n", name, "-o", "%T"], capture_output=True, text=True).stdout
    assert jobs.split() == ["CANCELLED"], jobs
    steps = json.loads((run / "state.json").read_text())["step"]
    assert 0 < steps < 500  # what the job left came back
    assert not (run / "failed.json").exists() or json.loads((run / "failed.json").read_text())["retryable"]
    assert list((tmp_path / "remote").iterdir()) == []
    _resumes_to_the_end(config, tmp_path, run)


def test_refused_job_is_a_one_line_error(tmp_path, published, slurm):
    config = tmp_path / "study.toml"
    config.write_text(_slurm_config(tmp_path, published).replace('queue_name = "debug"', 'queue_name = "nosuch"'))
    line = _one_line_error(run_cli("study", "run", config, "--dir", tmp_path / "s"))
    assert "did not run the jobs" in line and "invalid partition" in line, line


def test_slurm_controller_down_is_a_one_line_error(tmp_path, published, slurm):
    conf = tmp_path / "slurm.conf"  # the test cluster's configuration, its controller on a port nobody serves
    conf.write_text(re.sub(r"SlurmctldPort=\d+", f"SlurmctldPort={_free_port()}", slurm["conf"].read_text()))
    config = tmp_path / "study.toml"
    config.write_text(_slurm_config(tmp_path, published))
    line = _one_line_error(run_cli("study", "run", config, "--dir", tmp_path / "s", env={"SLURM_CONF": str(conf)}))
    assert f"Slurm on {socket.gethostname()} does not answer" in line and "Unable to contact slurm controller" in line


def _one_line_error(result) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unreachable_ssh_host_is_a_one_line_error(tmp_path, published):
    config = tmp_path / "study.toml"
    config.write_text(CONFIG.format(p1=120) + """
[execution]
mode = "dpdispatcher"

[execution.cluster]
batch_type = "Slurm"
context_type = "SSHContext"
remote_root = "/scratch/hydropimd"
remote_profile = { hostname = "no-such-host.invalid", username = "me", timeout = 5 }
""")
    line = _one_line_error(run_cli("study", "run", config, "--dir", tmp_path / "s"))
    assert "no-such-host.invalid" in line and "cannot reach" in line
    assert not (tmp_path / "dpdispatcher.log").exists()
    assert not (tmp_path / "s" / "runs" / "T300K-P120GPa-H-1beads").exists()


def test_missing_batch_commands_are_a_one_line_error(tmp_path, published):
    if shutil.which("bsub"):
        pytest.skip("this machine has LSF's bsub")
    config = tmp_path / "study.toml"
    config.write_text(CONFIG.format(p1=120) + f"""
[execution]
mode = "dpdispatcher"

[execution.cluster]
batch_type = "LSF"
context_type = "LocalContext"
remote_root = "{tmp_path / 'remote'}"
""")
    line = _one_line_error(run_cli("study", "run", config, "--dir", tmp_path / "s"))
    assert f"bsub not found on {socket.gethostname()}" in line


def test_unknown_batch_type_is_a_one_line_error(tmp_path, published):
    config = tmp_path / "study.toml"
    config.write_text(CONFIG.format(p1=120) + """
[execution]
mode = "dpdispatcher"

[execution.cluster]
batch_type = "Slurmm"
remote_root = "/tmp"
""")
    line = _one_line_error(run_cli("study", "run", config, "--dir", tmp_path / "s"))
    assert "batch_type 'Slurmm'" in line and "Slurm" in line
