"""Reading run directories of ``hydropimd md run`` and ASE-readable trajectories for analysis.

A run directory (its format: :mod:`hydropimd.md.rundir`) holds ``run.json``
(metadata: temperature_k, pressure_gpa, beads, isotope, natoms, timestep_fs,
stride, the cell record), ``centroid.extxyz`` (centroid frames with Lattice and
info keys time_ps and step) and ``table.csv`` (per output: step, time_ps, a, b,
c, alpha, beta, gamma, volume, ...).  Any other path is read as a trajectory by ASE.

Times are in ps: from the frames' ``time_ps``, else from run.json
(step x timestep_fs / 1000, or frame x stride x timestep_fs / 1000), else frame x
``dt_ps``; with none of these the time axis is the frame index (said in
``time_source``; every *_ps option then counts frames).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hydropimd.lattice import metric_from_cellpar, metric_from_cells
from hydropimd.errors import InputError
from hydropimd.md import rundir
from hydropimd.md.rundir import is_run_directory
from hydropimd.structures import HYDROGEN_SYMBOLS, unreadable_file

# the run-directory format is hydropimd.md.rundir's
RUN_METADATA, CENTROID, TABLE = rundir.SETTINGS, rundir.CENTROID, rundir.TABLE

_LATTICE = re.compile(r'(?:^|\s)Lattice\s*=\s*"([^"]*)"', re.IGNORECASE)
_TIME = re.compile(r'(?:^|\s)time_ps\s*=\s*"?([-+0-9.eE]+)')
_STEP = re.compile(r'(?:^|\s)step\s*=\s*"?([-+0-9]+)')
_PROPERTIES = re.compile(r'(?:^|\s)Properties\s*=\s*"?([^\s"]+)', re.IGNORECASE)


@dataclass
class CellSeries:
    """Cells of a trajectory as metric tensors (angstrom^2, shape (n, 3, 3)) with times (ps).

    ``n_sites``: number of lattice sites (atoms of the heaviest element, :func:`_sites`), None when unknown;
    ``metadata``: run.json (empty for a bare trajectory).
    """

    source: str
    metric: np.ndarray
    time_ps: np.ndarray
    time_source: str
    cell_source: str
    n_sites: int | None = None
    natoms: int | None = None
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.time_ps)


@dataclass
class FrameSeries:
    """Positions (angstrom, (n, natoms, 3)), cells ((n, 3, 3), rows = vectors), symbols and times (ps) of a trajectory."""

    source: str
    symbols: np.ndarray
    positions: np.ndarray
    cells: np.ndarray
    time_ps: np.ndarray
    time_source: str
    n_sites: int
    all_symbols: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict)
    masses: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.time_ps)


def find_run_directories(study) -> list[Path]:
    """Every folder under ``study`` (any depth, itself included) holding a run.json, sorted by path."""
    root = Path(study)
    if not root.is_dir():
        raise InputError(f"study directory {root} does not exist")
    runs = sorted(p.parent for p in root.rglob(RUN_METADATA))
    if not runs:
        raise InputError(f"no run directories (folders with {RUN_METADATA}) under {root}")
    return runs


def read_run_metadata(run) -> dict:
    """run.json of a run directory as a dict."""
    return rundir.read_metadata(run)


def _trajectory_path(source) -> tuple[Path, dict]:
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path} does not exist; give a run directory or a trajectory file")
    if path.is_dir():
        if not is_run_directory(path):
            raise InputError(f"{path} is a folder without {RUN_METADATA}; give a run directory of 'hydropimd md run' or a trajectory file")
        metadata = read_run_metadata(path)
        if (path / CENTROID).is_file():
            return path / CENTROID, metadata
        if (path / TABLE).is_file():
            return path / TABLE, metadata
        raise InputError(f"run directory {path} has neither {CENTROID} nor {TABLE}; has the MD written output yet?")
    return path, {}


def _times(info_times, steps, n: int, metadata: dict, dt_ps: float | None) -> tuple[np.ndarray, str]:
    if info_times is not None and len(info_times) == n and all(t is not None for t in info_times):
        return np.asarray(info_times, dtype=float), "time_ps of each frame"
    timestep_fs, stride = metadata.get("timestep_fs"), metadata.get("stride")
    if timestep_fs:
        if steps is not None and len(steps) == n and all(s is not None for s in steps):
            return np.asarray(steps, dtype=float) * float(timestep_fs) / 1000.0, "step x timestep_fs of run.json"
        if stride:
            return np.arange(n) * float(stride) * float(timestep_fs) / 1000.0, "frame x stride x timestep_fs of run.json"
    if dt_ps is not None:
        if not dt_ps > 0:
            raise InputError(f"--dt-ps {dt_ps} must be positive")
        return np.arange(n) * float(dt_ps), "frame x --dt-ps"
    return np.arange(n, dtype=float), "frame index (no time_ps in the frames; give --dt-ps): every *_ps option counts frames"


def _species_column(comment: str) -> int:
    """Column of the species in the atom lines, from the Properties=name:type:count:... key (0 without one)."""
    match = _PROPERTIES.search(comment)
    if not match:
        return 0
    fields = match.group(1).split(":")
    column = 0
    for name, count in zip(fields[0::3], fields[2::3]):
        if name == "species":
            return column
        column += int(count)
    return 0


def _read_extxyz_cells(path: Path, progress=None):
    """Cells, times, steps and first-frame symbols from an extxyz file, reading only the comment lines.

    ASE's reader parses every atom line (measured 1 ms per 352-atom frame) and its
    comment parser (ase.io.extxyz.key_val_str_to_dict) takes 80 us per frame; the
    three regular expressions here take a few us, so 100 000 frames of a small
    cell read in seconds.  Frames whose comment has no Lattice raise InputError.
    """
    cells, times, steps, symbols = [], [], [], None
    with open(path) as handle:
        for frame in itertools.count():
            header = handle.readline()
            if not header.strip():
                break
            try:
                natoms = int(header)
            except ValueError:
                raise InputError(f"{path}: frame {frame} does not start with an atom count; is it an extended XYZ file?") from None
            comment = handle.readline()
            lattice = _LATTICE.search(comment)
            if lattice is None:
                raise InputError(f"{path}: frame {frame} has no Lattice (cell); cell analysis needs a periodic trajectory")
            try:
                cells.append(np.array(lattice.group(1).split(), dtype=float).reshape(3, 3))
            except ValueError:
                raise InputError(f"{path}: frame {frame} has a malformed Lattice \"{lattice.group(1)}\"") from None
            time, step = _TIME.search(comment), _STEP.search(comment)
            times.append(float(time.group(1)) if time else None)
            steps.append(int(step.group(1)) if step else None)
            if symbols is None:
                symbols = _first_frame_symbols(path, handle, natoms, _species_column(comment))
            else:
                next(itertools.islice(handle, natoms - 1, natoms), None)  # skip atom lines at C speed
            if progress and frame % 1000 == 0:
                progress(frame, None)
    return cells, times, steps, symbols


def _first_frame_symbols(path: Path, handle, natoms: int, column: int) -> np.ndarray:
    """The chemical symbols of the first frame's ``natoms`` atom lines; InputError for a frame cut short or a
    symbol that is no element."""
    from ase.data import atomic_numbers

    lines = [handle.readline().split() for _ in range(natoms)]
    short = next((k for k, line in enumerate(lines) if len(line) <= column), None)
    if short is not None:
        raise InputError(f"{path}: frame 0 announces {natoms} atoms but its atom line {short + 1} is missing or "
                         "short; the file is truncated or not extended XYZ")
    symbols = np.array([line[column] for line in lines])
    unknown = sorted(set(symbols.tolist()) - set(atomic_numbers))
    if unknown:
        raise InputError(f"{path}: frame 0 names {', '.join(map(repr, unknown))}, which is no chemical element; "
                         "correct the species column")
    return symbols


def _read_table_cells(path: Path):
    try:
        table = np.genfromtxt(path, delimiter=",", names=True)
    except ValueError as err:
        raise InputError(f"{path} is not a readable CSV table ({err})") from None
    names = table.dtype.names or ()
    missing = [c for c in ("a", "b", "c", "alpha", "beta", "gamma") if c not in names]
    if missing:
        raise InputError(f"{path} lacks the columns {', '.join(missing)}; it must be the table.csv of 'hydropimd md run'")
    table = np.atleast_1d(table)
    lengths = np.column_stack([table["a"], table["b"], table["c"]])
    angles = np.column_stack([table["alpha"], table["beta"], table["gamma"]])
    times = table["time_ps"].tolist() if "time_ps" in names else None
    steps = table["step"].tolist() if "step" in names else None
    return metric_from_cellpar(lengths, angles), times, steps


def _sites(symbols) -> int:
    """Lattice sites of the cubic parent: the atoms of the heaviest element (La in LaH10 and in LaBeH8, whose Be
    fills the other fcc sublattice; S in H3S); all atoms when there is only hydrogen."""
    from ase.data import atomic_numbers

    symbols = np.asarray(symbols)
    heavy = [s for s in set(symbols.tolist()) if s not in HYDROGEN_SYMBOLS]
    if not heavy:
        return len(symbols)
    return int(np.sum(symbols == max(heavy, key=lambda s: atomic_numbers[s])))


def read_cells(source, dt_ps: float | None = None, progress=None) -> CellSeries:
    """Metric tensors and times of a run directory or trajectory file (see the module docstring for the time rules)."""
    path, metadata = _trajectory_path(source)
    symbols = None
    if path.name == TABLE and path.parent.joinpath(RUN_METADATA).is_file() and path.suffix == ".csv":
        metric, times, steps = _read_table_cells(path)
        cell_source = f"{path} (cell parameters)"
        start = path.parent / rundir.START  # the run's start structure names its atoms
        symbols = np.array(_ase_frames(start, index="0:1")[0].get_chemical_symbols()) if start.is_file() else None
    elif path.suffix in (".extxyz", ".xyz"):
        cells, times, steps, symbols = _read_extxyz_cells(path, progress)
        metric = metric_from_cells(np.array(cells)) if cells else np.zeros((0, 3, 3))
        cell_source = f"{path} (Lattice of each frame)"
    else:
        frames = _ase_frames(path)
        cells = np.array([f.cell.array for f in frames])
        if len(frames) and np.any(np.abs(np.linalg.det(cells)) < 1e-9):
            raise InputError(f"{path} has frames without a cell; cell analysis needs a periodic trajectory")
        metric = metric_from_cells(cells) if len(frames) else np.zeros((0, 3, 3))
        times = [f.info.get("time_ps") for f in frames]
        steps = [f.info.get("step") for f in frames]
        symbols = np.array(frames[0].get_chemical_symbols()) if frames else None
        cell_source = f"{path} (cells read by ASE)"
    n = len(metric)
    if n == 0:
        raise InputError(f"{path} contains no frames")
    time_ps, time_source = _times(times, steps, n, metadata, dt_ps)
    natoms = len(symbols) if symbols is not None else metadata.get("natoms")
    n_sites = _sites(symbols) if symbols is not None else None
    return CellSeries(str(source), metric, time_ps, time_source, cell_source, n_sites, natoms, metadata)


def _ase_frames(path: Path, index=":"):
    from ase.io import read

    try:
        frames = read(path, index=index)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except StopIteration:
        raise InputError(f"{path} contains no frames") from None
    except Exception as err:  # ASE raises many types for unreadable or empty files
        if path.stat().st_size == 0:
            raise InputError(f"{path} is empty: it contains no frames") from None
        raise unreadable_file(path, err, "a trajectory") from None
    return frames if isinstance(frames, list) else [frames]


def read_frames(source, dt_ps: float | None = None, species=None) -> FrameSeries:
    """Positions, cells, symbols and times of every frame of a run directory (its centroid trajectory) or a file.

    ``species``: keep only these chemical symbols (saves memory for one-species analyses).
    """
    path, metadata = _trajectory_path(source)
    if path.name == TABLE:
        raise InputError(f"run directory {source} has no {CENTROID}; this analysis needs atomic positions")
    frames = _ase_frames(path)
    if not frames:
        raise InputError(f"{path} contains no frames")
    symbols = np.array(frames[0].get_chemical_symbols())
    if any(len(f) != len(symbols) for f in frames):
        raise InputError(f"{path}: the number of atoms changes between frames; analyses need a fixed set of atoms")
    keep = np.ones(len(symbols), dtype=bool) if species is None else np.isin(symbols, list(species))
    if not keep.any():
        raise InputError(f"element {', '.join(species)} is not in {path} (it has {', '.join(sorted(set(symbols.tolist())))}); "
                         "choose one of those")
    positions = np.array([f.positions[keep] for f in frames])
    cells = np.array([f.cell.array for f in frames])
    if np.any(np.abs(np.linalg.det(cells)) < 1e-9):
        raise InputError(f"{path} has frames without a cell; the analysis needs a periodic trajectory")
    masses = frames[0].get_masses()[keep] if frames[0].has("masses") else None
    time_ps, time_source = _times([f.info.get("time_ps") for f in frames], [f.info.get("step") for f in frames],
                                  len(frames), metadata, dt_ps)
    return FrameSeries(str(source), symbols[keep], positions, cells, time_ps, time_source, _sites(symbols),
                       tuple(sorted(set(symbols.tolist()))), metadata, masses)


def discard_start(time_ps, discard_ps: float, what: str = "run") -> int:
    """Index of the first frame kept after discarding ``discard_ps`` from the start (InputError if nothing is left)."""
    time_ps = np.asarray(time_ps, dtype=float)
    if discard_ps is None or discard_ps == 0:
        return 0
    if discard_ps < 0:
        raise InputError(f"--discard-ps {discard_ps} must not be negative")
    length = float(time_ps[-1] - time_ps[0])
    if discard_ps >= length:
        raise InputError(f"--discard-ps {discard_ps:g} is longer than the {what} ({length:g} ps); use a smaller --discard-ps")
    return int(np.searchsorted(time_ps - time_ps[0], discard_ps, side="left"))
