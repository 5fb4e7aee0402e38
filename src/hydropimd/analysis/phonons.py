"""Harmonic phonons of a crystal relaxed at a pressure, with any ASE calculator (our potential: model + pair).

The harmonic reference of the study: is the symmetric structure (fcc LaH10, Fm-3m) a minimum of the
potential energy surface at a pressure, or are there imaginary modes; how high do its frequencies go
(the number of path-integral beads must resolve the highest, P >> hbar omega_max / k_B T); what is its
Debye temperature.

* :func:`relax_at_pressure` minimises the enthalpy H = E + P V at a scalar pressure with ASE's
  ``FrechetCellFilter`` and ``FixSymmetry`` (the harmonic question is about the symmetric structure),
  raising the pressure in steps so the structure stays on its own branch of the equation of state.
* :func:`harmonic_phonons` computes force constants by finite displacements with phonopy
  (A. Togo, J. Phys. Soc. Jpn. 92, 012001 (2023)) in a supercell of the conventional cell, built on the
  primitive cell, then the band structure along the standard path of the primitive cell's Bravais
  lattice (ASE's ``Cell.bandpath``: W. Setyawan and S. Curtarolo, Comput. Mater. Sci. 49, 299 (2010);
  fcc: Gamma-X-W-K-Gamma-L-U-W-L-K|U-X, bcc: Gamma-H-N-Gamma-P-H|P-N), and a Gamma-centred mesh
  (DOS, imaginary-mode search, highest frequency, Debye temperature).
* :func:`analyze_phonons` is ``hydropimd analyze phonons``: both, with :class:`HydridePotential`.

Conventions: frequencies nu in THz (phonopy's units with eV, angstrom, amu) and cm^-1; an imaginary
frequency is reported as a negative number, as phonopy does.  q-points are in reduced coordinates of the
reciprocal lattice of the primitive cell (``primitive_cell_angstrom``, rows = lattice vectors).
"""

from __future__ import annotations

import math
import time

import numpy as np
from ase import Atoms
from ase.units import GPa
from scipy import constants

from hydropimd.errors import InputError, RunFailed
from hydropimd.native import captured_native_stderr
from hydropimd.structures import parse_supercell, read_structure, structure_problem

#: nu (THz) -> wavenumber (cm^-1)
THZ_TO_CM1 = 1e12 / (constants.c * 100.0)
#: h nu / k_B (K) for nu = 1 THz
THZ_TO_K = constants.h * 1e12 / constants.k
#: |P| above this is a typo, not physics (as ``md run``)
MAX_PRESSURE_GPA = 10000.0
#: frequencies below -this are imaginary modes; above, numerical noise of the acoustic modes near Gamma
IMAGINARY_TOLERANCE_THZ = 0.05


def _species_types(atoms: Atoms) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """One integer per (element, mass): spglib then keeps isotopes (H and D) apart, and masses survive it."""
    keys = list(zip(atoms.numbers.tolist(), np.round(atoms.get_masses(), 6).tolist()))
    unique = sorted(set(keys))
    return np.array([unique.index(k) for k in keys]), unique


def standard_cells(atoms: Atoms, symprec: float = 1e-3, idealize: bool = True) -> dict:
    """spglib's standardised primitive cell of ``atoms`` (as Atoms, masses kept), its space group, the integer
    matrix C with conventional = C primitive (rows = lattice vectors), so supercells of the conventional cell
    can be built on the primitive cell, and the conventional edges (A).  ``idealize``: symmetrise the lattice and
    positions at ``symprec`` (A) and rotate to spglib's standard orientation; without, the structure is only
    re-expressed in the primitive cell (phonons of a relaxed structure are computed on it as it is)."""
    import spglib

    types, unique = _species_types(atoms)
    cell = (atoms.cell.array, atoms.get_scaled_positions(), types)
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        raise InputError(f"spglib finds no symmetry for the structure at symprec {symprec} A; give an ordered crystal")
    lattice, positions, kinds = spglib.standardize_cell(cell, to_primitive=True, no_idealize=not idealize, symprec=symprec)
    conventional = spglib.standardize_cell(cell, to_primitive=False, no_idealize=not idealize, symprec=symprec)[0]
    primitive = Atoms(numbers=[unique[k][0] for k in kinds], masses=[unique[k][1] for k in kinds],
                      cell=lattice, scaled_positions=positions, pbc=True)
    to_conventional = np.rint(conventional @ np.linalg.inv(lattice)).astype(int)
    return {"primitive": primitive, "conventional_from_primitive": to_conventional,
            "space_group": f"{dataset.international} ({dataset.number})",
            "conventional_lengths_angstrom": np.linalg.norm(conventional, axis=1).tolist()}


def _pressure_gpa(atoms: Atoms) -> float:
    """Hydrostatic pressure -tr(sigma)/3 of the attached calculator, GPa."""
    return float(-np.mean(atoms.get_stress(voigt=True)[:3]) / GPa)


def _relax_one(atoms: Atoms, pressure_gpa: float, fmax: float, max_steps: int, previous: tuple[float, float],
               max_volume_jump: float) -> None:
    """Relax ``atoms`` at one pressure (GPa); RunFailed as soon as the volume per atom leaves the branch, i.e.
    differs from ``previous`` (pressure GPa, volume A^3 per atom: the last relaxed state) by > max_volume_jump."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    # scalar_pressure is in eV/A^3: the GPa of the interface are converted here, at the boundary
    target = FrechetCellFilter(atoms, scalar_pressure=pressure_gpa * GPa)
    # small steps: a large first step into the compressed region can land on another branch of the PES
    optimizer = BFGS(target, logfile=None, maxstep=0.05)
    for converged in optimizer.irun(fmax=fmax, steps=max_steps):
        change = atoms.get_volume() / len(atoms) / previous[1] - 1.0
        if abs(change) > max_volume_jump:  # checked every step: a collapse is refused without following it down
            raise RunFailed(f"the volume changed by {100 * change:+.0f} % between {previous[0]:.1f} and "
                            f"{pressure_gpa:.1f} GPa: the structure's branch ends there (a maximum of the "
                            "potential's P(V), or a transformation); ask for a lower pressure")
    if not converged:
        # seen with the published LaH10 tables: a La-H distance crossing the table's 2.02 A cutoff, where the pair
        # force drops from 0.12 eV/A to 0, makes the pressure jump by ~15 GPa; targets inside the jump have no
        # relaxed state, only the kink
        raise RunFailed(f"the relaxation at {pressure_gpa:.1f} GPa did not converge in {max_steps} steps (fmax "
                        f"{fmax:g} eV/A; stuck at {_pressure_gpa(atoms):.1f} GPa): the potential's pressure may jump "
                        "across the target (a pair-table cutoff crossed); try a pressure a few GPa away")


def _check_pressure(pressure_gpa: float) -> None:
    if not abs(pressure_gpa) <= MAX_PRESSURE_GPA:
        raise InputError(f"pressure {pressure_gpa:g} GPa is beyond +-{MAX_PRESSURE_GPA:g} GPa; give the pressure in GPa")


def relax_at_pressure(atoms: Atoms, calculator, pressure_gpa: float, fmax: float = 1e-3, keep_symmetry: bool = True,
                      symprec: float = 1e-2, pressure_step_gpa: float = 25.0, max_volume_jump: float = 0.10,
                      max_steps: int = 200, progress=None) -> tuple[Atoms, dict]:
    """Minimise the enthalpy E + P V of ``atoms`` (positions and cell) at ``pressure_gpa`` (GPa) with ``calculator``.

    ASE's ``FrechetCellFilter`` (scalar pressure in eV/A^3) with BFGS until every force is below ``fmax`` (eV/A;
    the filter scales the stress to the same units); with ``keep_symmetry`` ASE's ``FixSymmetry`` keeps the space
    group (spglib at ``symprec``, A) of the input: a structure that is a saddle point stays there, which is the
    harmonic question.  The pressure is raised from the input's own pressure in steps of at most
    ``pressure_step_gpa``, each relaxation starting from the last: the structure follows its branch of the
    equation of state.  A step whose volume changes by more than ``max_volume_jump`` (fraction; a stiff hydride
    changes by ~3 % per 25 GPa step) means the branch
    ended (the potential's P(V) has a maximum, a spinodal, or the structure transformed): RunFailed naming the
    highest pressure reached on the branch, not a relaxed structure of another phase.

    Returns the relaxed copy (calculator attached, no constraint) and a record: pressure reached (GPa), volume
    per atom (A^3), the ramp of (pressure GPa, volume A^3 per atom), steps.
    """
    _check_pressure(pressure_gpa)
    relaxed = atoms.copy()
    relaxed.calc = calculator
    if keep_symmetry:
        from ase.constraints import FixSymmetry

        relaxed.set_constraint(FixSymmetry(relaxed, symprec=symprec))
    start = _pressure_gpa(relaxed)
    stages = max(1, math.ceil(abs(pressure_gpa - start) / pressure_step_gpa))
    ramp = [(start, relaxed.get_volume() / len(relaxed))]
    for k, target in enumerate(np.linspace(start, pressure_gpa, stages + 1)[1:], start=1):
        _relax_one(relaxed, float(target), fmax, max_steps, ramp[-1], max_volume_jump)
        ramp.append((float(target), relaxed.get_volume() / len(relaxed)))
        if progress:
            progress(k, stages)
    relaxed.set_constraint()
    problem = structure_problem(relaxed)
    if problem:
        raise RunFailed(f"the structure relaxed at {pressure_gpa:g} GPa is unphysical: {problem}")
    record = {"pressure_target_gpa": float(pressure_gpa), "pressure_reached_gpa": _pressure_gpa(relaxed),
              "volume_angstrom3_per_atom": relaxed.get_volume() / len(relaxed),
              "ramp": [{"pressure_gpa": p, "volume_angstrom3_per_atom": v} for p, v in ramp],
              "fmax_ev_per_angstrom": fmax, "kept_symmetry": keep_symmetry}
    return relaxed, record


def _phonopy_atoms(atoms: Atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell.array,
                        scaled_positions=atoms.get_scaled_positions(), masses=atoms.get_masses())


def _supercell_forces(phonon, calculator, progress=None) -> np.ndarray:
    """Forces (eV/A) on every displaced supercell, minus those of the undisplaced one (phonopy's ``--fz``: the
    residual forces of an imperfect relaxation are not part of the response)."""
    def forces(cell) -> np.ndarray:
        atoms = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, pbc=True)
        atoms.calc = calculator
        # DeePMD-kit prints "loc idx out of bound" from C++ for phonopy's supercells (atoms on the cell faces, 1e-16 A
        # round-off in the cell); the forces equal those of the same supercell built by ASE (measured, to 0.0):
        # kept at DEBUG level (re-emitted if the evaluation fails), not on the user's terminal
        with captured_native_stderr():
            return atoms.get_forces()

    cells = phonon.supercells_with_displacements
    residual = forces(phonon.supercell)
    out = []
    for k, cell in enumerate(cells, start=1):
        out.append(forces(cell) - residual)
        if progress:
            progress(k, len(cells))
    return np.array(out)


def _band_path(primitive_cell) -> tuple[list[list[str]], dict]:
    """The standard path of the cell's Bravais lattice (ASE; Setyawan-Curtarolo) as segments of labels and the
    special points in reduced coordinates of this cell's reciprocal lattice (any orientation)."""
    from ase.dft.kpoints import parse_path_string

    path = primitive_cell.bandpath(npoints=0)
    return parse_path_string(path.path), {k: np.asarray(v, dtype=float) for k, v in path.special_points.items()}


def _band_structure(phonon, npoints: int) -> dict:
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    from ase.cell import Cell

    segments, points = _band_path(Cell(np.asarray(phonon.primitive.cell)))
    paths = [[points[label] for label in segment] for segment in segments]
    qpoints, connections = get_band_qpoints_and_path_connections(paths, npoints=npoints)
    phonon.run_band_structure(qpoints, path_connections=connections)
    bands = phonon.get_band_structure_dict()
    labels = [["Γ" if s == "G" else s for s in segment] for segment in segments]
    return {"segments": labels, "special_points": {("Γ" if k == "G" else k): v.tolist() for k, v in points.items()},
            "qpoints": [q.tolist() for q in bands["qpoints"]], "distances": [d.tolist() for d in bands["distances"]],
            "frequencies_thz": [f.tolist() for f in bands["frequencies"]]}


def _imaginary_modes(qpoints, frequencies, source: str, tolerance: float, labels=None, weights=None) -> list[dict]:
    """Every q-point with a frequency below -tolerance (THz): its imaginary (negative) frequencies, with the
    line of the band path or the symmetry weight (irreducible mesh point)."""
    modes = []
    for k, (q, f) in enumerate(zip(qpoints, frequencies)):
        imaginary = np.sort(f[f < -tolerance])
        if imaginary.size:
            modes.append({"q_reduced_primitive": np.round(q, 6).tolist(), "source": source,
                          "label": labels[k] if labels is not None else None,
                          "weight": int(weights[k]) if weights is not None else None,
                          "frequencies_thz": imaginary.tolist(), "frequencies_cm1": (imaginary * THZ_TO_CM1).tolist()})
    return modes


def _band_imaginary_modes(bands: dict, tolerance: float) -> list[dict]:
    """The worst q-point of each line of the band path (e.g. "Γ-X") whose lowest frequency is below -tolerance:
    instabilities between the mesh points are found too, one entry per line."""
    names = [f"{a}-{b}" for segment in bands["segments"] for a, b in zip(segment, segment[1:])]
    worst = []
    for name, q, f in zip(names, bands["qpoints"], bands["frequencies_thz"]):
        f = np.asarray(f)
        k = int(np.argmin(f.min(axis=1)))
        worst.extend(_imaginary_modes([np.asarray(q)[k]], [f[k]], "band", tolerance, labels=[name]))
    return worst


def debye_temperature_k(frequencies_thz, weights) -> float:
    """Second-moment Debye temperature theta_D(2) = (h / k_B) sqrt(5/3 <nu^2>) (K) of the real frequencies (THz) of a
    q-mesh with q-point weights.

    The Debye model's DOS g ~ nu^2 up to nu_D has <nu^2> = 3/5 nu_D^2; theta_D(2) is the Debye temperature of the
    Debye model with the same second moment of the DOS, the one that fixes the high-temperature heat capacity and
    mean-square displacements (G. Grimvall, Thermophysical Properties of Materials, Elsevier 1999, section 6.6,
    "moment Debye temperatures").  Imaginary modes are left out (they have no harmonic contribution).
    """
    nu = np.asarray(frequencies_thz, dtype=float)
    w = np.broadcast_to(np.asarray(weights, dtype=float)[:, None], nu.shape)
    real = nu > 0
    if not real.any():
        return 0.0
    second_moment = np.sum(w[real] * nu[real] ** 2) / np.sum(w[real])
    return float(THZ_TO_K * math.sqrt(5.0 / 3.0 * second_moment))


def parse_mesh(spec) -> list[int]:
    """A q-mesh from N or N1,N2,N3 (positive integers)."""
    try:
        values = [int(v) for v in str(spec).replace(" ", "").split(",")] if isinstance(spec, str) else \
            [int(v) for v in np.atleast_1d(spec)]
    except ValueError:
        raise InputError(f"mesh '{spec}' must be N or N1,N2,N3 (positive integers)") from None
    if len(values) not in (1, 3) or min(values) < 1:
        raise InputError(f"mesh '{spec}' must be N or N1,N2,N3 (positive integers)")
    return values * 3 if len(values) == 1 else values


def harmonic_phonons(atoms: Atoms, calculator, supercell=2, mesh=16, amplitude_angstrom: float = 0.01,
                     band_points: int = 51, imaginary_tolerance_thz: float = IMAGINARY_TOLERANCE_THZ,
                     symprec: float = 1e-3, progress=None) -> dict:
    """Harmonic phonons of ``atoms`` (assumed relaxed) with ``calculator`` by phonopy's finite displacements.

    ``supercell``: N, N1,N2,N3 or a 3x3 integer matrix in units of the conventional cell (spglib's standard cell),
    built on the primitive cell (which phonopy's dynamical matrix uses: 11 atoms for LaH10); ``mesh``: N or
    N1,N2,N3 Gamma-centred q-mesh of the primitive reciprocal cell; ``amplitude_angstrom``: displacement
    (phonopy's default 0.01 A; +- displacements where symmetry does not supply the opposite one).  Force
    constants are not symmetrised, so the Gamma acoustic frequencies (``gamma_acoustic_thz``) test the
    calculator's translational invariance (acoustic sum rule).

    Returns a JSON-ready dict: frequencies (THz, cm^-1; imaginary < 0) along the band path and on the mesh, the
    DOS (states / THz / primitive cell), ``imaginary_modes`` (mesh: irreducible q-points with weights; band: the
    worst q-point of each line of the path), most negative first, in reduced coordinates of the primitive
    reciprocal cell, the lowest frequency and its q-point, ``max_frequency_thz``/``_cm1`` and
    ``debye_temperature_k`` (:func:`debye_temperature_k`).
    """
    from phonopy import Phonopy

    started = time.perf_counter()
    cells = standard_cells(atoms, symprec=symprec, idealize=False)
    primitive = cells["primitive"]
    matrix = parse_supercell(supercell) @ cells["conventional_from_primitive"]  # rows: supercell in primitive units
    mesh = parse_mesh(mesh)
    if amplitude_angstrom <= 0:
        raise InputError(f"displacement amplitude {amplitude_angstrom} A must be positive (phonopy's default 0.01)")
    # phonopy's supercell matrix acts on lattice vectors as columns: the transpose of our row convention
    phonon = Phonopy(_phonopy_atoms(primitive), supercell_matrix=matrix.T, primitive_matrix=None, symprec=symprec)
    phonon.generate_displacements(distance=amplitude_angstrom, is_plusminus="auto")
    phonon.forces = _supercell_forces(phonon, calculator, progress)
    phonon.produce_force_constants()

    bands = _band_structure(phonon, band_points)
    phonon.run_mesh(mesh, is_gamma_center=True)
    grid = phonon.get_mesh_dict()
    phonon.run_total_dos()
    dos = phonon.get_total_dos_dict()
    gamma = np.sort(np.abs(phonon.get_frequencies([0.0, 0.0, 0.0])))[:3]

    n_supercell = len(phonon.supercell)
    return {
        "space_group": cells["space_group"],
        "primitive_cell_angstrom": np.asarray(phonon.primitive.cell).tolist(),
        "n_atoms_primitive": len(primitive),
        "conventional_lengths_angstrom": cells["conventional_lengths_angstrom"],
        "supercell_matrix_conventional": parse_supercell(supercell).tolist(),
        "supercell_matrix_primitive": matrix.tolist(),
        "n_atoms_supercell": n_supercell,
        "n_displacements": len(phonon.supercells_with_displacements),
        "displacement_angstrom": amplitude_angstrom,
        "mesh": mesh,
        "q_coordinates": "reduced coordinates of the reciprocal lattice of the primitive cell (primitive_cell_angstrom)",
        "gamma_acoustic_thz": gamma.tolist(),
        **_frequency_summary(grid, bands, imaginary_tolerance_thz),
        "band_structure": bands,
        "mesh_qpoints": grid["qpoints"].tolist(), "mesh_weights": grid["weights"].tolist(),
        "mesh_frequencies_thz": grid["frequencies"].tolist(),
        "dos": {"frequency_thz": dos["frequency_points"].tolist(), "states_per_thz": dos["total_dos"].tolist()},
        "phonons_seconds": time.perf_counter() - started,
    }


def _frequency_summary(grid: dict, bands: dict, tolerance: float) -> dict:
    """Imaginary modes (mesh and band path), the lowest and highest frequency (THz, cm^-1) over both, theta_D(2)."""
    band_q = np.concatenate([np.asarray(q) for q in bands["qpoints"]])
    band_f = np.concatenate([np.asarray(f) for f in bands["frequencies_thz"]])
    imaginary = (_imaginary_modes(grid["qpoints"], grid["frequencies"], "mesh", tolerance, weights=grid["weights"])
                 + _band_imaginary_modes(bands, tolerance))
    imaginary.sort(key=lambda m: m["frequencies_thz"][0])
    all_q = np.concatenate([grid["qpoints"], band_q])
    all_f = np.concatenate([grid["frequencies"], band_f])
    low = np.unravel_index(np.argmin(all_f), all_f.shape)
    high = float(all_f.max())
    unstable = (grid["frequencies"] < -tolerance).any(axis=1)
    return {
        "imaginary_tolerance_thz": tolerance,
        "imaginary_modes": imaginary,
        "n_imaginary_mesh_qpoints": sum(m["source"] == "mesh" for m in imaginary),
        "n_imaginary_band_lines": sum(m["source"] == "band" for m in imaginary),
        "imaginary_fraction_of_mesh": float(np.sum(grid["weights"][unstable]) / np.sum(grid["weights"])),
        "lowest_frequency_thz": float(all_f[low]), "lowest_frequency_cm1": float(all_f[low] * THZ_TO_CM1),
        "lowest_frequency_q": np.round(all_q[low[0]], 6).tolist(),
        "max_frequency_thz": high, "max_frequency_cm1": high * THZ_TO_CM1,
        "debye_temperature_k": debye_temperature_k(grid["frequencies"], grid["weights"]),
        "debye_definition": "theta_D(2) = (h/k_B) sqrt(5/3 <nu^2>) over the real mesh frequencies (Grimvall 1999)",
    }


def analyze_phonons(structure, model, pair=None, pressure_gpa: float = 0.0, supercell=2, mesh=16,
                    amplitude_angstrom: float = 0.01, fmax: float = 1e-3, keep_symmetry: bool = True,
                    plot=None, progress=None) -> dict:
    """``hydropimd analyze phonons``: relax ``structure`` (file or Atoms) at ``pressure_gpa`` with the DeePMD
    ``model`` plus the ``pair`` table (:class:`HydridePotential`), then :func:`harmonic_phonons`; ``plot``: a PNG or
    PDF of the band structure and the DOS.  Returns harmonic_phonons' dict with ``relaxation``
    (:func:`relax_at_pressure`'s record), the inputs and the run time (s)."""
    from hydropimd.analysis.figures import check_plot_path
    from hydropimd.potential.calculator import HydridePotential

    started = time.perf_counter()
    atoms = read_structure(structure)
    if plot:
        plot = check_plot_path(plot)
    parse_supercell(supercell)  # refuse bad input before the model loads and the relaxation runs
    parse_mesh(mesh)
    _check_pressure(pressure_gpa)
    problem = structure_problem(atoms)
    if problem:
        raise InputError(f"structure {structure}: {problem}; fix the structure")
    potential = HydridePotential(model, pair)
    primitive = standard_cells(atoms)["primitive"]
    relaxed, record = relax_at_pressure(primitive, potential, pressure_gpa, fmax=fmax, keep_symmetry=keep_symmetry)
    result = harmonic_phonons(relaxed, potential, supercell=supercell, mesh=mesh,
                              amplitude_angstrom=amplitude_angstrom, progress=progress)
    result = {"structure": str(structure) if not isinstance(structure, Atoms) else atoms.get_chemical_formula(),
              "model": str(model), "pair": None if pair is None else str(pair), "relaxation": record, **result,
              "seconds": time.perf_counter() - started}
    if plot:
        plot_phonons(result, plot)
        result["plot"] = str(plot)
    return result


def plot_phonons(result: dict, path) -> None:
    """Band structure (THz; imaginary frequencies drawn negative) beside the DOS, written as PNG or PDF."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hydropimd.analysis.figures import check_plot_path

    bands = result["band_structure"]
    fig = Figure(figsize=(10, 5))
    ax_band, ax_dos = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 1], "wspace": 0.05})
    ticks, labels, first = [], [], 0
    for segment in bands["segments"]:  # a segment of n + 1 labels is n bands of the path
        ends = [bands["distances"][first][0]] + [bands["distances"][first + i][-1] for i in range(len(segment) - 1)]
        for distance, label in zip(ends, segment):
            if ticks and abs(ticks[-1] - distance) < 1e-9:  # a break in the path: "K|U" at one tick
                labels[-1] = label if labels[-1] == label else f"{labels[-1]}|{label}"
            else:
                ticks.append(distance)
                labels.append(label)
        first += len(segment) - 1
    for distances, frequencies in zip(bands["distances"], bands["frequencies_thz"]):
        ax_band.plot(distances, frequencies, color="tab:blue", lw=0.8)
    for x in ticks:
        ax_band.axvline(x, color="0.6", lw=0.5)
    ax_band.axhline(0, color="k", lw=0.6, ls="--")
    ax_band.set_xticks(ticks, labels)
    ax_band.set_xlim(ticks[0], ticks[-1])
    ax_band.set_ylabel("frequency (THz; imaginary < 0)")
    relax = result.get("relaxation")
    title = f"{result['space_group']}" + (f", {relax['pressure_reached_gpa']:.0f} GPa" if relax else "")
    ax_band.set_title(title)
    dos = result["dos"]
    ax_dos.plot(dos["states_per_thz"], dos["frequency_thz"], color="k", lw=0.8)
    ax_dos.axhline(0, color="k", lw=0.6, ls="--")
    ax_dos.set_xlabel("DOS (states/THz/cell)")
    ax_dos.set_xlim(left=0)
    FigureCanvasAgg(fig)
    fig.savefig(check_plot_path(path), dpi=150, bbox_inches="tight")
