"""Running a study's grid on a cluster through dpdispatcher.

dpdispatcher (https://docs.deepmodeling.com/projects/dpdispatcher) turns each
unfinished grid point into one Task: the ``hydropimd md run`` command of
:meth:`Study.md_command`, executed in ``runs/<name>/`` (a path relative to the
study directory, dpdispatcher's ``local_root``) with ``--out .``.  A new run
gets its starting structure copied into the run directory as ``start.extxyz``
and forwarded; a run with a checkpoint (partial, even one whose job was killed at
its walltime) forwards its run files and continues with ``--resume``, so runs
longer than a walltime finish over several ``study run`` calls.  Jobs go to the
batch system named in the ``[execution.cluster]`` table (Slurm, PBS, LSF, ...
through a local or SSH context); when they have ended, the run files and the
task's ``job.out`` / ``job.err`` come back into the run directory, and each run
is judged by its own ``state.json``: a run that did not reach its last step gets
``failed.json`` ({"reason", "returncode"}) exactly as :meth:`Study.run_local`
writes it, the reason being the last ``error:`` line of ``job.err``.

The model, pair table and committee files are passed as absolute paths of this
machine: the cluster must see them at the same paths (a shared filesystem), or
the study file must name paths valid there.  The same holds for the ``python``
of the profile, which must have hydropimd installed.

dpdispatcher's own log goes to ``<study>/dpdispatcher.log`` (not to stdout,
which carries ``--json`` output).  A profile that cannot be reached (unknown
host, refused connection, missing batch commands) is a one-line
:class:`InputError`.  Interrupting the command (Ctrl-C) cancels the jobs and
fetches what they left: the runs resume from their checkpoints next time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from hydropimd.errors import InputError
from hydropimd.files import write_json_atomic
from hydropimd.study.config import ClusterConfig, RunSpec
from hydropimd.study.runner import FAILED, Study

START = "start.extxyz"     # the starting structure, forwarded into a new run's directory
LOG_OUT = "job.out"        # the task's stdout: the --json summary of hydropimd md run
LOG_ERR = "job.err"        # the task's stderr: its last "error:" line is the failure reason
EXIT_FILE = "job.status"   # the task's exit status (dpdispatcher keeps only success/failure)
LOG_FILE = "dpdispatcher.log"
#: the run's own files (hydropimd.md.run) that come back from the cluster
RUN_OUTPUTS = ("state.json", "run.json", "table.csv", "centroid.extxyz", "beads.extxyz", "input.xml", "init.extxyz",
               "checkpoints")
POLL_FIRST_S = 2.0         # status polling starts fast (short test runs) ...
POLL_MAX_S = 60.0          # ... and backs off to once a minute (long production runs, busy schedulers)
#: per batch system: the commands that must exist where jobs are submitted (submit, status)
SCHEDULER_COMMANDS = {
    "Slurm": ("sbatch", "squeue"), "SlurmJobArray": ("sbatch", "squeue"),
    "PBS": ("qsub", "qstat"), "Torque": ("qsub", "qstat"), "SGE": ("qsub", "qstat"),
    "LSF": ("bsub", "bjobs"), "JH_UniScheduler": ("jsub", "jjobs"), "Fugaku": ("pjsub", "pjstat"),
    "Shell": ("bash",),
}


def _import_dpdispatcher():
    """Import dpdispatcher without its import-time side effects on the caller's terminal and directory.

    Its logger writes ``dpdispatcher.log`` into the current directory and every
    message to stdout; both are removed here and the log goes into the study.
    """
    if "dpdispatcher" in sys.modules:  # imported (and its handlers replaced) before: keep the study's handler
        return sys.modules["dpdispatcher"]
    logger = logging.getLogger("dpdispatcher")
    mute = logging.Filter("nothing")  # passes only records of a logger named "nothing": none
    logger.addFilter(mute)
    try:
        import dpdispatcher
    finally:
        logger.removeFilter(mute)
    for handler in list(logger.handlers):  # its stdout and ./dpdispatcher.log handlers
        logger.removeHandler(handler)
        handler.close()
    return dpdispatcher


def run_on_cluster(study: Study, progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every unfinished grid point of ``study`` as a dpdispatcher task; one result per run.

    Results are those of :meth:`Study.run_local`: ``{"name", "status": "done", ...the md run summary}``
    or ``{"name", "status": "failed", "reason", "returncode"}``.  ``progress`` gets each result, and a
    ``{"name", "status": "submitted", "job_id"}`` when a run's job has been queued.
    """
    cluster = study.config.execution.cluster
    todo = [row for row in study.status() if row["status"] not in ("done", "running")]
    if not todo:
        return []
    model = study.model_file()
    specs = {s.name: s for s in study.config.runs()}
    study.dir.mkdir(parents=True, exist_ok=True)
    dp = _import_dpdispatcher()
    log = logging.FileHandler(study.dir / LOG_FILE)
    log.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s : %(message)s"))
    logger = logging.getLogger("dpdispatcher")
    logger.addHandler(log)
    markers = []
    try:
        # dpdispatcher prints some diagnostics with print(): keep them out of our stdout (--json)
        with open(study.dir / LOG_FILE, "a") as sink, contextlib.redirect_stdout(sink):
            machine = _machine(dp, study, cluster)
            resources = _resources(dp, cluster)
            tasks = [_task(dp, study, specs[row["name"]], model, row["status"] == "partial", cluster) for row in todo]
            submission = dp.Submission(work_base=".", machine=machine, resources=resources, task_list=tasks,
                                       continue_on_failure=True)
            submission.generate_jobs()  # fixes the submission's hash, hence its remote directory
            _check_scheduler(machine, cluster)
            for row in todo:
                _prepare(study, specs[row["name"]], row["status"] == "partial")
                marker = Study._marker(study.run_dir(specs[row["name"]]))
                write_json_atomic(marker, {"pid": os.getpid(), "started": time.time(), "cluster": _host(cluster)})
                markers.append(marker)
            _submit_and_wait(dp, submission, cluster, progress)
    finally:
        for marker in markers:
            marker.unlink(missing_ok=True)
        logger.removeHandler(log)
        log.close()
    results = []
    for row in todo:
        result = _collect(study, specs[row["name"]])
        if progress:
            progress(result)
        results.append(result)
    return results


# ---------------------------------------------------------------- the profile
def _host(cluster: ClusterConfig) -> str:
    return cluster.remote_profile.get("hostname") or socket.gethostname()


def _one_line(err: BaseException) -> str:
    """The most telling line of an exception and its causes (dpdispatcher wraps them in long reports)."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = str(err).replace("\x1b[31m", "").replace("\x1b[0m", "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    for line in lines:
        if "error" in line.lower() and line.lower() != "error message:":
            return line.removeprefix("error message:").strip()
    return lines[0] if lines else type(err).__name__


def _profile_problem(err: Exception) -> str:
    """A dargs/dpdispatcher complaint about the profile, located in the study file's terms.

    dargs writes the location as a bracketed prefix, which the terminal's markup would swallow.
    """
    text = _one_line(err)
    located = re.match(r"\[at location `([^`]*)`\]\s*(.*)", text)
    if located:
        return f"execution.cluster.{located[1].replace('/', '.')}: {located[2].replace(' in arguments', '')}"
    return f"execution.cluster: {text}"


def _machine(dp, study: Study, cluster: ClusterConfig):
    """The dpdispatcher Machine of the profile; connecting to an SSH host happens here."""
    from dargs.dargs import ArgumentError

    if cluster.batch_type not in dp.Machine.subclasses_dict:
        raise InputError(f"execution.cluster.batch_type '{cluster.batch_type}' is not one of "
                         f"{', '.join(sorted(dp.Machine.options))} (fix the study file)")
    remote_root = cluster.remote_root
    if "ssh" not in cluster.context_type.lower() and not os.path.isabs(os.path.expanduser(remote_root)):
        remote_root = str(study.config_dir / remote_root)  # like every other path of the study file
    machine = {"batch_type": cluster.batch_type, "context_type": cluster.context_type,
               "local_root": str(study.dir.resolve()), "remote_root": os.path.expanduser(remote_root),
               "remote_profile": cluster.remote_profile,
               # a failed run is not resubmitted blindly: the next 'study run' restarts or resumes it
               "retry_count": 0}
    try:
        return dp.Machine.load_from_dict(machine)
    except ArgumentError as err:
        raise InputError(f"{_profile_problem(err)} (fix the study file)") from None
    except (*_dp_errors(), AssertionError) as err:
        raise InputError(f"cannot reach the cluster at {_host(cluster)} ({cluster.context_type}): {_one_line(err)} "
                         "(check execution.cluster.remote_profile in the study file)") from None


def _dp_errors() -> tuple:
    """What dpdispatcher raises when a host, a connection or a batch command fails."""
    import paramiko

    _import_dpdispatcher()  # first: a bare submodule import would run its side effects
    from dpdispatcher.utils.utils import RetrySignal

    return OSError, EOFError, RuntimeError, ValueError, paramiko.SSHException, RetrySignal


def _resources(dp, cluster: ClusterConfig):
    from dargs.dargs import ArgumentError

    # one thread per process as in local runs; the profile's envs come last and win
    envs = {"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **cluster.envs}
    try:
        return dp.Resources.load_from_dict({
            "number_node": 1, "cpu_per_node": cluster.cpu_per_node, "gpu_per_node": 0,
            "queue_name": cluster.queue_name, "group_size": cluster.group_size, "custom_flags": cluster.custom_flags,
            "source_list": cluster.source_list, "envs": envs})
    except (ArgumentError, ValueError, RuntimeError) as err:
        raise InputError(f"{_profile_problem(err)} (fix the study file)") from None


def _check_scheduler(machine, cluster: ClusterConfig) -> None:
    """Fail early, in one line, when the batch system's commands are missing or its controller is down."""
    context = machine.context
    kind = type(context).__name__
    if kind not in ("LocalContext", "LazyLocalContext", "SSHContext"):
        return  # cloud contexts submit through an API, not commands
    host = _host(cluster)
    batch = type(machine).__name__
    for command in SCHEDULER_COMMANDS.get(batch, ()):
        if _shell(context, f"command -v {command}")[0] != 0:
            raise InputError(f"{command} not found on {host}: is {cluster.batch_type} the batch system there? "
                             "(check execution.cluster.batch_type in the study file)")
    if batch in ("Slurm", "SlurmJobArray"):
        # dpdispatcher would retry an unreachable controller for minutes before giving up
        code, err = _shell(context, 'squeue -h -o %i -u "$(id -un)"')
        if code != 0:
            last = (err.strip().splitlines() or [f"exit status {code}"])[-1]
            raise InputError(f"Slurm on {host} does not answer: {last}")


def _shell(context, command: str) -> tuple[int, str]:
    """Exit status and stderr of a shell command where dpdispatcher submits jobs."""
    if type(context).__name__ == "SSHContext":
        code, _, _, err = context.block_call(command)
        return code, err.read().decode(errors="replace")
    # local contexts run their commands in a local shell (in a directory that does not exist yet)
    result = subprocess.run(command, shell=True, capture_output=True, text=True)
    return result.returncode, result.stderr


# ---------------------------------------------------------------- the tasks
def _task(dp, study: Study, spec: RunSpec, model: Path, resume: bool, cluster: ClusterConfig):
    """One run as a dpdispatcher Task (its directory is filled by :func:`_prepare`)."""
    from hydropimd.md.run import RUN_FILES

    d = study.run_dir(spec)
    forward = [name for name in RUN_FILES if (d / name).exists()] if resume else [START]
    argv = study.md_command(spec, model, resume, python="python", run_dir=".", structure=START)
    argv = shlex.split(cluster.python) + argv[1:]  # the profile's python may be a command ("srun python3")
    # dpdispatcher records only success or failure; keep the exit status for failed.json
    command = f"{shlex.join(argv)}; status=$?; echo $status > {EXIT_FILE}; exit $status"
    backward = [*RUN_OUTPUTS, *(["lammps"] if study.config.md.engine == "lammps" else []), LOG_OUT, LOG_ERR, EXIT_FILE]
    return dp.Task(command=command, task_work_path=str(d.relative_to(study.dir)), forward_files=forward,
                   backward_files=backward, outlog=LOG_OUT, errlog=LOG_ERR, task_name=spec.name)


def _prepare(study: Study, spec: RunSpec, resume: bool) -> None:
    """Clear what an earlier attempt left and, for a new run, put the starting structure in place."""
    from hydropimd.md.run import RUN_FILES

    d = study.run_dir(spec)
    d.mkdir(parents=True, exist_ok=True)
    for name in (FAILED, LOG_OUT, LOG_ERR, EXIT_FILE):
        (d / name).unlink(missing_ok=True)  # an earlier attempt's logs would be taken for this one's
    if not resume:
        for name in RUN_FILES:  # what --force replaces on the cluster is replaced here too
            path = d / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        shutil.copyfile(study.structure_file(spec.isotope), d / START)


def _submit_and_wait(dp, submission, cluster: ClusterConfig, progress) -> None:
    """Upload, submit, poll with back-off until every job has ended, fetch the results, clean up.

    Follows dpdispatcher's ``Submission.run_submission`` step by step, with a polling interval that
    grows from seconds to a minute and results fetched from failed tasks too.
    """
    _import_dpdispatcher()
    from dpdispatcher.utils.job_status import JobStatus

    host = _host(cluster)
    try:
        # a submission identical to one whose watcher died is picked up again (dpdispatcher's record)
        submission.try_recover_from_json()
        submission.update_submission_state()
        if any(job.job_state == JobStatus.unsubmitted for job in submission.belonging_jobs):
            submission.upload_jobs()
        submission.handle_unexpected_submission_state(continue_on_failure=True)
        submission.submission_to_json()
        if progress:
            for job in submission.belonging_jobs:
                if job.job_state not in (JobStatus.finished, JobStatus.failed):
                    for task in job.job_task_list:
                        progress({"name": task.task_name, "status": "submitted", "job_id": job.job_id})
        delay = POLL_FIRST_S
        while not submission.check_all_finished():
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX_S)
            submission.update_submission_state()
            submission.handle_unexpected_submission_state(continue_on_failure=True)
            submission.submission_to_json()
    except _dp_errors() as err:
        _cancel(submission)
        log = Path(submission.machine.context.temp_local_root) / LOG_FILE
        raise InputError(f"the cluster at {host} did not run the jobs: {_one_line(err)} "
                         f"(dpdispatcher's log: {log})") from None
    except BaseException:  # Ctrl-C included: no job is left running unwatched
        _cancel(submission)
        raise
    _fetch(submission)


def _cancel(submission) -> None:
    """Cancel the jobs still queued or running, wait (briefly) for them to stop, fetch what they left."""
    _import_dpdispatcher()
    from dpdispatcher.utils.job_status import JobStatus

    active = (JobStatus.waiting, JobStatus.running, JobStatus.completing, JobStatus.unknown)
    with contextlib.suppress(Exception):
        for job in submission.belonging_jobs:
            if job.job_id and job.job_state in active:
                submission.machine.kill(job)
        deadline = time.time() + 30
        while time.time() < deadline:
            submission.update_submission_state()
            if not any(job.job_id and job.job_state in active for job in submission.belonging_jobs):
                break
            time.sleep(1)
    with contextlib.suppress(Exception):
        _fetch(submission)


def _fetch(submission) -> None:
    # include_failed: whatever a task left (logs, a partial run) comes back, not only finished tasks' files
    submission.download_jobs(include_failed=True)
    submission.clean_jobs()


# ---------------------------------------------------------------- the results
def _collect(study: Study, spec: RunSpec) -> dict:
    """The result of one run, judged by its state; a run that did not finish gets failed.json."""
    d = study.run_dir(spec)
    steps = study.config.md.steps
    state = d / "state.json"
    steps_done = json.loads(state.read_text())["step"] if state.exists() else 0
    if steps_done >= steps:
        return {"name": spec.name, "status": "done", **_summary(d, steps_done, steps)}
    returncode = None
    with contextlib.suppress(OSError, ValueError):
        returncode = int((d / EXIT_FILE).read_text().strip())
    reason = _reason(d / LOG_ERR, returncode, study.dir / LOG_FILE)
    write_json_atomic(d / FAILED, {"reason": reason, "returncode": returncode})
    return {"name": spec.name, "status": "failed", "reason": reason, "returncode": returncode}


def _summary(d: Path, steps_done: int, steps: int) -> dict:
    """The --json summary the run printed on the cluster, with its paths made local."""
    try:
        summary = json.loads((d / LOG_OUT).read_text())
    except (OSError, ValueError):
        summary = {"steps_done": steps_done, "steps": steps}
    return {**summary, "run_dir": str(d), "table": str(d / "table.csv")}


def _reason(err_log: Path, returncode: int | None, dp_log: Path) -> str:
    """The last ``error:`` line of the task's stderr (else its last line), naming the log."""
    lines = err_log.read_text(errors="replace").splitlines() if err_log.exists() else []
    lines = [ln.strip() for ln in lines if ln.strip()]
    line = next((ln for ln in reversed(lines) if ln.startswith("error:")), None)
    if line is not None:
        return f"{line.removeprefix('error:').strip()} (log: {err_log})"
    if lines:
        return f"{lines[-1]} (log: {err_log})"
    if returncode is not None:
        return f"exit status {returncode} without a message (log: {err_log})"
    return f"the cluster job ended before the run finished and left no log (see {dp_log})"
