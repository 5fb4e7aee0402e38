"""Files that are never half-written, and work directories one process at a time.

Every result hydropimd keeps (run states, labels, reports) is written to a
temporary sibling and moved into place with :func:`os.replace`, which is atomic
on POSIX file systems: a kill at any moment leaves either the old file or the
new one, never a truncated one.  Long jobs that own a directory (labelling, the
active-learning loop) hold an exclusive :func:`fcntl.flock` on it, released by
the kernel when the process dies, so a killed job never leaves a stale lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator

from hydropimd.errors import InputError, RunFailed
from hydropimd.native import without_noise


def unique_sibling(path: str | os.PathLike, tag: str = "partial") -> Path:
    """A temporary name beside ``path``, unique to this process and thread, keeping its suffix (DeePMD-kit picks
    the backend by it): concurrent writers of one path never share a temporary file."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}.{tag}{path.suffix}")


@contextmanager
def exclusive(lock_path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive :func:`fcntl.flock` on ``lock_path`` (created if missing), waiting for another holder."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def make_once(target: str | os.PathLike, make: Callable[[], object]) -> Path:
    """``target`` if it exists, else made by ``make()`` (which writes it atomically) under a lock beside it.

    Several processes asking for the same cache entry at once: the first makes it, the others wait for the
    lock and then find it made.
    """
    target = Path(target)
    if not target.exists():
        with exclusive(target.with_name(target.name + ".lock")):
            if not target.exists():
                make()
    return target


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`write_through_sibling`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_through_sibling(path, lambda tmp: tmp.write_text(text))


def write_atoms_atomic(path: str | os.PathLike, atoms, format: str | None = None) -> Path:
    """Write ASE ``atoms`` (one structure or a list) to ``path`` atomically (:func:`write_through_sibling`).
    ``format``: ASE's format name (default: from the suffix of ``path``)."""
    from ase.io import write  # ASE only here: the rest of this module is imported by every stage
    from ase.io.formats import filetype

    fmt = format or filetype(str(path), read=False)  # the temporary name has no telling suffix
    return write_through_sibling(path, lambda tmp: write(tmp, atoms, format=fmt))


def write_through_sibling(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` into a temporary sibling of ``path`` (:func:`unique_sibling`), flushed to disk, then renamed
    onto ``path``: a kill at any moment leaves the old file or the new one.

    A failed write (a full disk, a file-size limit) leaves an existing ``path`` as it was and no temporary file,
    and raises :class:`~hydropimd.errors.RunFailed` naming the path and the free space left there.
    """
    path = Path(path)
    tmp = unique_sibling(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        full = no_room_error(err, path)
        if full is None:
            raise  # a path that cannot be written (no folder, no permission): the caller's bad input
        raise full from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


#: the errors of a write that found no room: a full disk, a full quota, a file-size limit
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def no_room_error(err: OSError, where: str | os.PathLike) -> RunFailed | None:
    """The run failure of a write that found no room (:data:`NO_ROOM`), naming the file (or ``where``, when the
    error does not say which file) and the free space there; None for other errors.  Retryable: the same
    command succeeds once space is freed, from its last checkpoint."""
    if err.errno not in NO_ROOM:
        return None
    path = Path(err.filename or where)
    folder = next((p for p in (path, *path.parents) if p.is_dir()), Path("."))
    free = shutil.disk_usage(folder).free / 2**20
    return RunFailed(f"cannot write {path}: {err.strerror} ({free:.0f} MiB free there); free some space and run "
                     "the command again (nothing written before was lost)", retryable=True)


def check_writable(path: str | os.PathLike, option: str) -> Path:
    """Refuse, before long work starts, an output path whose folder cannot be created or written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{option} {path}: cannot create its folder ({err.strerror}); give a writable path") from None
    if not os.access(path.parent, os.W_OK) or path.is_dir():
        raise InputError(f"{option} {path} cannot be written; give a writable file path")
    return path


def write_json_atomic(path: str | os.PathLike, payload, indent: int = 1) -> Path:
    """Write ``payload`` as JSON (objects it cannot encode, such as paths, as strings) atomically."""
    return write_text_atomic(path, json.dumps(payload, indent=indent, default=str))


#: the file a directory's lock is taken on (kept: removing it while locked would let a second lock succeed)
LOCK_FILE = ".lock"


def lock_directory(directory: str | os.PathLike, busy_message: str) -> IO:
    """Take an exclusive lock on ``directory`` (created if needed); keep the returned handle open while working.

    Raises :class:`InputError` with ``busy_message`` when another process holds it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / LOCK_FILE, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(busy_message) from None
    return handle


def lock_held(directory: str | os.PathLike) -> bool:
    """Whether some process holds the lock of :func:`lock_directory` on ``directory`` now.  Read from the kernel's
    table (``/proc/locks``) without touching the lock, so a probe never makes a starting job see it busy; a
    process that died released its lock with its last descriptor, zombie or not.  Elsewhere a non-blocking
    shared lock is tried and given back at once."""
    path = Path(directory) / LOCK_FILE
    try:
        info = path.stat()
    except OSError:
        return False
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return _try_lock(path)
    # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF": the device as hex major:minor, then the inode
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    return any(f" {device} " in line and " FLOCK " in line for line in table.splitlines())


def _try_lock(path: Path) -> bool:
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def error_line(log_text: str) -> str:
    """The line of a tool's log that says what went wrong: the last exception line (``SomeError: ...``), else the
    last line; the CUDA-probe noise DeePMD-kit prints on a CPU machine (``implib-gen: libcudart...``) skipped."""
    lines = [ln.strip() for ln in without_noise(log_text).splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b.*:", ln)]
    return (errors or lines or ["(no output)"])[-1]
