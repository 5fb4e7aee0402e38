"""Where the published LaH10 data live, and how to fetch them.

The data-location rule, used by every command: an explicit ``--data DIR``, else
the environment variable ``HYDROPIMD_DATA``, else the cache directory that
:func:`fetch_published` fills (``$XDG_CACHE_HOME/hydropimd/lah10-published``,
default ``~/.cache/hydropimd/lah10-published``).  The published root holds
``data/{full,subtracted}/``, ``models/{full,subtracted}/`` and ``tables/``
(the layout of github.com/kkly1995/Data-for-fcc-LaH).

pslibrary's ld1.x input collection (github.com/dalcorso/pslibrary, for
``hydropimd dft pseudo``) is found by the same rule: ``--pslibrary DIR``, else
``HYDROPIMD_PSLIBRARY``, else ``pslibrary/`` beside the published data (a developer
checkout's ``../shared/pslibrary``), else the cache folder that :func:`fetch_pslibrary`
fills (``~/.cache/hydropimd/pslibrary``).  The GLE4MD library (PIGLET's thermostat matrices) likewise:
``--gle-library DIR``, else ``HYDROPIMD_GLE4MD``, else ``gle4md-library/`` beside the published data, else the
cache (``~/.cache/hydropimd/gle4md``), fetched from github.com/lab-cosmo/gle4md when a PIGLET run needs it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from hydropimd.errors import InputError
from hydropimd.files import exclusive

PUBLISHED_URL = "https://github.com/kkly1995/Data-for-fcc-LaH/archive/refs/heads/main.tar.gz"
ENV_VAR = "HYDROPIMD_DATA"
#: written into a fetched data folder: only such a folder is replaced by a later fetch
FETCH_MARKER = ".hydropimd-fetch.json"
#: pslibrary at the commit of the copy the project is tested with (../shared/pslibrary/COMMIT)
PSLIBRARY_URL = "https://github.com/dalcorso/pslibrary/archive/835dd6477c90fa9d59524914de50901d4be73e36.tar.gz"
PSLIBRARY_ENV_VAR = "HYDROPIMD_PSLIBRARY"
#: a pslibrary collection is a folder holding this job file (the 1.0.0 ultrasoft inputs)
PSLIBRARY_JOB = "us_ps_high.job"
#: the GLE4MD library (PIGLET's matrices): its public repository's web branch, whose library/ holds them
GLE4MD_URL = "https://github.com/lab-cosmo/gle4md/archive/refs/heads/gh-pages.tar.gz"
GLE4MD_ENV_VAR = "HYDROPIMD_GLE4MD"


def cache_dir() -> Path:
    """hydropimd's cache directory (models converted from DeePMD-kit 1.x, fetched data)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hydropimd"


def default_published_dir() -> Path:
    return cache_dir() / "lah10-published"


def published_root(explicit: str | os.PathLike | None = None) -> Path:
    """The published data root by the data-location rule (it must exist)."""
    for source, value in (("--data", explicit), (ENV_VAR, os.environ.get(ENV_VAR))):
        if value:
            root = Path(value).expanduser()
            if not root.is_dir():
                raise InputError(f"{source} points to {root}, which does not exist; fix it or run 'hydropimd data fetch'")
            return root
    root = default_published_dir()
    if not root.is_dir():
        raise InputError(f"no published data found: pass --data DIR, set {ENV_VAR}, or run 'hydropimd data fetch'")
    return root


def published_path(relative: str, explicit: str | os.PathLike | None = None) -> Path:
    """A file or folder of the published data, e.g. ``models/subtracted/graph.pb``."""
    path = published_root(explicit) / relative
    if not path.exists():
        raise InputError(f"{path} is missing from the published data; re-run 'hydropimd data fetch'")
    return path


def default_gle4md_dir() -> Path:
    return cache_dir() / "gle4md"


def _is_gle4md_library(root: Path) -> bool:
    return (root / "piglet").is_dir() and (root / "optimal").is_dir()


def gle4md_root(explicit: str | os.PathLike | None = None, fetch: bool = False) -> Path:
    """The GLE4MD library's matrix folder (``piglet/``, ``optimal/``) by the location rule; ``fetch``: fill the
    cache when nothing is found."""
    for source, value in (("--gle-library", explicit), (GLE4MD_ENV_VAR, os.environ.get(GLE4MD_ENV_VAR))):
        if value:
            root = Path(value).expanduser()
            for candidate in (root, root / "library"):
                if _is_gle4md_library(candidate):
                    return candidate
            raise InputError(f"{source} points to {root}, which has no piglet/ and optimal/ folders; give the GLE4MD "
                             "library's folder (github.com/lab-cosmo/gle4md, branch gh-pages, library/)")
    candidates = [default_gle4md_dir() / "library"]
    try:
        candidates.insert(0, published_root().parent / "gle4md-library")
    except InputError:
        pass
    for root in candidates:
        if _is_gle4md_library(root):
            return root
    if fetch:
        return _fetch_archive(default_gle4md_dir(), GLE4MD_URL, None, "library", "the GLE4MD library",
                              "--gle-library", "hydropimd md run") / "library"
    raise InputError(f"no GLE4MD library found (PIGLET's matrices): pass --gle-library DIR, set {GLE4MD_ENV_VAR}, "
                     "or run online once (it is fetched)")


def default_pslibrary_dir() -> Path:
    return cache_dir() / "pslibrary"


def pslibrary_root(explicit: str | os.PathLike | None = None, fetch: bool = False) -> Path:
    """pslibrary's ld1.x input collection by the location rule; ``fetch``: fill the cache when nothing is found."""
    for source, value in (("--pslibrary", explicit), (PSLIBRARY_ENV_VAR, os.environ.get(PSLIBRARY_ENV_VAR))):
        if value:
            root = Path(value).expanduser()
            if not (root / PSLIBRARY_JOB).is_file():
                raise InputError(f"{source} points to {root}, which has no {PSLIBRARY_JOB}; give pslibrary's folder "
                                 "(github.com/dalcorso/pslibrary)")
            return root
    candidates = []
    try:
        candidates.append(published_root().parent / "pslibrary")
    except InputError:
        pass
    candidates.append(default_pslibrary_dir())
    for root in candidates:
        if (root / PSLIBRARY_JOB).is_file():
            return root
    if fetch:
        return fetch_pslibrary()
    raise InputError(f"no pslibrary collection found: pass --pslibrary DIR, set {PSLIBRARY_ENV_VAR}, "
                     "or run 'hydropimd dft pseudo' online (it fetches it)")


def fetch_pslibrary(dest: str | os.PathLike | None = None, url: str = PSLIBRARY_URL,
                    progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Download and unpack pslibrary's repository (its ld1.x inputs) into ``dest`` (default: the cache)."""
    return _fetch_archive(Path(dest) if dest else default_pslibrary_dir(), url, progress, PSLIBRARY_JOB,
                          "pslibrary's ld1.x input collection", "--pslibrary", "hydropimd dft pseudo")


def fetch_published(
    dest: str | os.PathLike | None = None,
    url: str = PUBLISHED_URL,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download and unpack the published data set (a .tar.gz or .zip archive) into ``dest``.

    The archive's single top-level folder is stripped.  Unpacking goes to a
    temporary folder beside ``dest`` that is renamed at the end, so an
    interrupted fetch never leaves a half-filled data directory.  ``progress``
    is called with (bytes so far, total bytes or None).
    """
    dest = Path(dest) if dest else default_published_dir()
    if not url:
        raise InputError("--url is empty; give the archive's URL (or leave --url out for the published one)")
    return _fetch_archive(dest, url, progress, "data", "the published LaH10 data set", "--dest", "hydropimd data fetch")


def _fetch_archive(dest: Path, url: str, progress, required: str, what: str, dest_option: str, command: str) -> Path:
    """Download the archive at ``url`` and unpack it (top folder stripped) into ``dest``, which must hold ``required``.

    One fetch of a ``dest`` at a time (a lock beside it): a second waits, then replaces the first's folder whole.
    """
    with exclusive(dest.parent / f".{dest.name}.lock"):
        return _fetch_unlocked(dest, url, progress, required, what, dest_option, command)


def _fetch_unlocked(dest: Path, url: str, progress, required: str, what: str, dest_option: str, command: str) -> Path:
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not (dest / FETCH_MARKER).exists())):
        # only an earlier fetch is replaced: anything else at dest is the user's
        raise InputError(f"{dest} exists and is not an earlier '{command}'; give another {dest_option}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = ".zip" if url.endswith(".zip") else ".tar.gz"
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as work:
        archive = Path(work) / f"archive{suffix}"
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:
                total = response.headers.get("Content-Length")
                total = int(total) if total else None
                done = 0
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise InputError(f"cannot download {url}: {getattr(err, 'reason', err)}; check the URL or the network") from None
        unpacked = Path(work) / "unpacked"
        try:
            shutil.unpack_archive(archive, unpacked)
        except (shutil.ReadError, OSError) as err:
            raise InputError(f"{url} is not a readable .tar.gz or .zip archive ({err})") from None
        entries = list(unpacked.iterdir())
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked
        if not (top / required).exists():
            raise InputError(f"the archive from {url} has no {required}{'/ folder' if required == 'data' else ''}; "
                             f"it is not {what}")
        (top / FETCH_MARKER).write_text(json.dumps({"url": url, "fetched": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(top, dest)
    return dest


#: a path in a config file that names a file of the published data, by the data-location rule
PUBLISHED_PREFIX = "published:"


def config_path(value: str, base: str | os.PathLike, what: str, fix: str) -> Path:
    """A path named in a config file: ``published:REL`` by the data-location rule
    (:func:`published_path`), else relative to ``base``, the config file's folder (one
    rule for every config, so a shipped example runs from any working directory); InputError when it does not
    exist, naming ``what`` and ending with ``fix``."""
    if value.startswith(PUBLISHED_PREFIX):
        return published_path(value[len(PUBLISHED_PREFIX):])
    path = Path(value).expanduser()
    path = path if path.is_absolute() else Path(base) / path
    if not path.exists():
        raise InputError(f"{what} {value} does not exist ({path}); {fix}")
    return path
