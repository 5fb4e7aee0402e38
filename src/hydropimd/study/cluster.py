"""Running a study's grid on a cluster through dpdispatcher.

dpdispatcher (https://docs.deepmodeling.com/projects/dpdispatcher) turns each
unfinished grid point into one Task.  The study creates the run directory here
(:meth:`Study.create_run`, settings in its run.json), or keeps it when it has a
checkpoint (partial, even one whose job was killed at its walltime); the task
forwards the run's files, runs the worker that advances it (``hydropimd md
advance .``, :mod:`hydropimd.md.worker`) in ``runs/<name>/`` (a path relative to
the study directory, dpdispatcher's ``local_root``), and brings the run's files
back, so runs longer than a walltime finish over several ``study run`` calls.
Jobs go to the batch system named in the ``[execution.cluster]`` table (Slurm,
PBS, LSF, ... through a local or SSH context).  Each run is judged by its own
files (:func:`hydropimd.md.worker.outcome`): ``state.json``, and ``failed.json``
written by the worker when it failed; a job that ended without either (killed
by the batch system before the worker could write) gets a retryable failure
naming its exit status and logs.  Nobody reads the jobs' text output.

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
import logging
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from hydropimd.errors import InputError
from hydropimd.files import write_json_atomic
from hydropimd.study.config import ClusterConfig, RunSpec
from hydropimd.md.rundir import FAILED
from hydropimd.study.runner import Study, run_result

LOG_OUT = "job.out"        # the task's stdout, kept for the user
LOG_ERR = "job.err"        # the task's stderr (a traceback of a crash), kept for the user
EXIT_FILE = "job.status"   # the task's exit status (dpdispatcher keeps only success/failure)
LOG_FILE = "dpdispatcher.log"
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


def run_on_cluster(study: Study, progress: Callable[[dict], None] | None = None,
                   only: list[str] | None = None) -> list[dict]:
    """Run every unfinished grid point of ``study`` (of ``only``, when given: :meth:`Study.todo`) as a
    dpdispatcher task; one result per run.

    Results are those of :meth:`Study.run_local`: ``{"name", "status": "done", ...the md run summary}``
    or ``{"name", "status": "failed", "reason", "kind", "retryable"}`` (:func:`hydropimd.study.runner.run_result`).
    ``progress`` gets each result, and a
    ``{"name", "status": "submitted", "job_id"}`` when a run's job has been queued.
    """
    cluster = study.config.execution.cluster
    todo = study.todo(only)
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
            tasks = [_task(dp, study, specs[row["name"]], row["status"] == "partial", cluster) for row in todo]
            submission = dp.Submission(work_base=".", machine=machine, resources=resources, task_list=tasks,
                                       continue_on_failure=True)
            submission.generate_jobs()  # fixes the submission's hash, hence its remote directory
            _check_scheduler(machine, cluster)
            for row in todo:
                _prepare(study, specs[row["name"]], row["status"] == "partial", model, cluster)
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
def _task(dp, study: Study, spec: RunSpec, resume: bool, cluster: ClusterConfig):
    """One run as a dpdispatcher Task: the worker advancing its directory (made by :func:`_prepare`)."""
    from hydropimd.md.rundir import CREATED_FILES, LAMMPS, RUN_FILES
    from hydropimd.md.worker import worker_command

    d = study.run_dir(spec)
    argv = shlex.split(cluster.python) + worker_command(".")[1:]  # the profile's python may be a command
    # dpdispatcher records only success or failure; keep the exit status for the record of a killed job
    command = f"{shlex.join(argv)}; status=$?; echo $status > {EXIT_FILE}; exit $status"
    # what a new run directory holds; a resumed one may also hold its LAMMPS clients' folder
    forward = [*CREATED_FILES, *([LAMMPS] if resume and (d / LAMMPS).exists() else [])]
    return dp.Task(command=command, task_work_path=str(d.relative_to(study.dir)), forward_files=forward,
                   backward_files=[*RUN_FILES, LOG_OUT, LOG_ERR, EXIT_FILE], outlog=LOG_OUT, errlog=LOG_ERR,
                   task_name=spec.name)


def _prepare(study: Study, spec: RunSpec, resume: bool, model: Path, cluster: ClusterConfig) -> None:
    """Clear what an earlier attempt left and, for a run without a checkpoint, create its directory anew."""
    d = study.run_dir(spec)
    d.mkdir(parents=True, exist_ok=True)
    for name in (FAILED, LOG_OUT, LOG_ERR, EXIT_FILE):
        (d / name).unlink(missing_ok=True)  # an earlier attempt's records would be taken for this one's
    if not resume:
        study.create_run(spec, model, cluster.cpu_per_node)  # one run per job: the job's cores


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
    """The result of one run, from its own files (a job killed before its worker could record why: retryable)."""
    from hydropimd.md.worker import outcome

    d = study.run_dir(spec)
    returncode = None
    with contextlib.suppress(OSError, ValueError):
        returncode = int((d / EXIT_FILE).read_text().strip())
    result = outcome(d, returncode)
    if result["status"] != "done" and not (d / FAILED).exists():  # the worker could not say why: the job's end
        result["failure"] = {"kind": "run", "retryable": True, "step": result["steps_done"],
                             "message": f"the cluster job ended before the run finished "
                                        f"({'exit status ' + str(returncode) if returncode is not None else 'no exit status'}; "
                                        f"logs: {d / LOG_ERR}, {study.dir / LOG_FILE})"}
    return run_result(spec.name, d, result)
