"""Shared fixtures.  The published data are found by the data-location rule
(HYDROPIMD_DATA, else ../shared/lah10-published beside the checkout, else the
fetched cache).  Under CI (CI=true) a test that needs them and cannot find them
fails; elsewhere it is skipped with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hydropimd.data.location import default_published_dir

REPO = Path(__file__).resolve().parents[1]


def _find_published() -> Path | None:
    candidates = [os.environ.get("HYDROPIMD_DATA"), REPO.parent / "shared" / "lah10-published", default_published_dir()]
    for c in candidates:
        if c and (Path(c) / "data" / "full").is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def published() -> Path:
    root = _find_published()
    if root is None:
        message = "published LaH10 data not found: set HYDROPIMD_DATA or run 'hydropimd data fetch'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    os.environ["HYDROPIMD_DATA"] = str(root)  # the data-location rule, for the package and child processes
    return root


@pytest.fixture(scope="session")
def gle_library():
    """The GLE4MD library's matrices (../shared/gle4md-library, a copy of github.com/lab-cosmo/gle4md's library/),
    made the data-location rule's choice for the package and its child processes."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "gle4md-library"
    if not (path / "piglet").is_dir():
        message = f"the GLE4MD library is not at {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    os.environ["HYDROPIMD_GLE4MD"] = str(path)
    return path


@pytest.fixture(scope="session")
def pytorch_backend() -> None:
    """DeePMD-kit's PyTorch backend (``make test`` installs it: the ``gpu`` extra); required under CI."""
    from hydropimd.potential.pytorch import INSTALL_HINT, pytorch_backend_installed

    if not pytorch_backend_installed():
        if os.environ.get("CI") == "true":
            pytest.fail(f"DeePMD-kit's PyTorch backend is not installed: {INSTALL_HINT}")
        pytest.skip("DeePMD-kit's PyTorch backend is not installed")


@pytest.fixture(scope="session")
def full_table(published) -> Path:
    return published / "tables" / "full.table"


@pytest.fixture(scope="session")
def subtracted_graph(published) -> Path:
    return published / "models" / "subtracted" / "graph.pb"


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str, status: int = 2) -> str:
    """A CLI error: exit ``status`` (2: bad input, 3: a run that failed), one line on stderr (no native library
    chatter either), no traceback, naming every one of ``words``; returns the line."""
    assert result.returncode == status, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # a blank line before "error:" counts: a progress bar left it
    assert "Traceback" not in result.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def run_cli(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """Run the installed ``hydropimd`` command in a child process."""
    return subprocess.run([sys.executable, "-m", "hydropimd", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def copy_dataset(source, target) -> None:
    """Copy a DeePMD data set (folder of systems, or one system) and write each system's type_map.raw: the published
    sets have none (their type names are in the training scripts beside them, which a copy leaves behind)."""
    import shutil
    from pathlib import Path

    from hydropimd.data.systems import find_systems

    shutil.copytree(source, target)
    for system in find_systems(source):
        (Path(target) / system.path.relative_to(source) / "type_map.raw").write_text("\n".join(system.type_map) + "\n")


def process_running(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and is no zombie (a dead child nobody reaped, which ``kill(pid, 0)``
    still finds; under a container's init that reaps nobody, a killed command's orphans stay so)."""
    import os

    try:
        os.kill(pid, 0)
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def interruptible() -> None:
    """``preexec_fn`` of a command a test interrupts with SIGINT: Ctrl-C's default action, even when the test runs
    where SIGINT is ignored (a background job of a non-interactive shell), which the command would inherit."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


# Modules that share one expensive result through the session's temporary folder (tests/active/loop_setup.py).
SHARED_MODULES = {"tests/active/test_loop.py": "active-loop", "tests/active/test_report.py": "active-loop"}
# The longest modules, longest first, with their seconds (setup + call + teardown) in one `make test` on the 2-core
# CI machine, summed from `PYTEST_ADDOPTS=--durations=0`: handed out first, so that the two workers finish together.
LONGEST_MODULES = ("tests/md/test_dynamics.py",                # 434 s
                   "tests/potential/test_published_model.py",  # 282
                   "tests/training/test_train.py",             # 268
                   "tests/study/test_cluster.py",              # 245
                   "tests/potential/test_pytorch.py",          # ~220 (measured alone, loaded machine)
                   "tests/md/test_runs.py",                    # 210
                   "tests/study/test_study.py",                # 209
                   "tests/active/test_loop.py",                # 163, and 23 for test_report.py (one group)
                   "tests/active/test_report.py",
                   "tests/md/test_piglet.py",                  # ~160 (measured alone, loaded machine)
                   "tests/dft/test_dft_pwx.py",                # 159
                   "tests/active/test_loop_h3s.py",            # 146 (measured alone, not in the suite)
                   "tests/active/test_loop_dft.py",            # 133
                   "tests/active/test_loop_kill.py")           # 91 (measured alone)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook, which reads the group into each test's id
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist with ``--dist loadgroup --no-loadscope-reorder`` (``make test`` runs two workers, one per
    core of the CI machine): each module runs whole on one worker, so its module fixtures (a trained committee, pw.x
    labels) are built once; the modules sharing the active-learning loop run on the same worker; the longest
    modules are handed out first."""
    def module(item):
        return item.nodeid.split("::")[0]

    rank = {name: k for k, name in enumerate(LONGEST_MODULES)}
    items.sort(key=lambda item: rank.get(module(item), len(rank)))  # stable: each module keeps its own order
    for item in items:
        item.add_marker(pytest.mark.xdist_group(SHARED_MODULES.get(module(item), module(item))))
