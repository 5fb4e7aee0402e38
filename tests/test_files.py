"""Atomic writes and directory locks (hydropimd.files)."""

import resource
import signal
import subprocess
import sys

from hydropimd.files import lock_directory, lock_held, write_json_atomic

_WRITE_BIG_JSON = """
import sys
from hydropimd.errors import RunFailed
from hydropimd.files import write_json_atomic
try:
    write_json_atomic(sys.argv[1], {"rows": list(range(5000))})
except RunFailed as err:
    print(err)
    raise SystemExit(3)
"""


def test_a_failed_text_write_keeps_the_old_file_and_leaves_no_partial_file(tmp_path):
    """A JSON write that fails part-way (a full disk; here the file-size limit, which fails the same way): the old
    file stays whole, no temporary file is left beside it (a '.partial' blocked retries), and the error names the
    path and the free space."""
    target = tmp_path / "state.json"
    write_json_atomic(target, {"step": 10})
    before = target.read_bytes()

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    failed = subprocess.run([sys.executable, "-c", _WRITE_BIG_JSON, str(target)], capture_output=True, text=True,
                            preexec_fn=small_files)
    assert failed.returncode == 3, failed.stderr
    assert str(target) in failed.stdout and "MiB free" in failed.stdout
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_lock_is_seen_while_held_and_not_after(tmp_path):
    """lock_held reads the kernel's lock table: true while a process holds the directory's lock (here another
    process, stopped), false once it has died, without ever taking the lock itself."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, signal, os; from hydropimd.files import "
                               "lock_directory; h = lock_directory(sys.argv[1], 'busy'); print('held', flush=True); "
                               "os.kill(os.getpid(), signal.SIGSTOP)", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    assert lock_held(tmp_path)
    holder.kill()
    holder.wait()
    assert not lock_held(tmp_path)
    mine = lock_directory(tmp_path, "busy")
    assert lock_held(tmp_path)
    mine.close()
    assert not lock_held(tmp_path / "nowhere")
