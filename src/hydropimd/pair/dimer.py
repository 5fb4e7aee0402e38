"""The pair baseline from isolated dimers: CCSD energy versus bond length (docs/theory/potential.md).

The short-range pair terms f(R) of U = f + g are the energies of isolated dimers,
computed with PySCF (Sun et al., WIREs Comput. Mol. Sci. 8, e1340 (2018)):

* H-H: CCSD with Dunning's cc-pV5Z basis (for two electrons CCSD is exact within the basis);
* La-H and La-La: CCSD with Weigend and Ahlrichs' def2-QZVPPD basis and its
  effective core potential for La (ECP46MWB: 46 core electrons replaced, 11 valence
  electrons 5s2 5p6 5d1 6s2 kept; Dolg et al., Theor. Chim. Acta 75, 173 (1989)).

All electrons present (valence and the La 5s5p semicore) are correlated.

**Spin state.** Every dimer is computed as a closed-shell singlet from a restricted
Hartree-Fock reference (RHF-CCSD) unless ``spin`` (2S) is given, in which case an
unrestricted reference is used (UHF-CCSD).  H2 (X 1Sigma_g+) and LaH (X 1Sigma+) have
singlet ground states.  La2 is open-shell near its equilibrium distance: unrestricted
Hartree-Fock (def2-SVP + ECP, measured here) puts the quintet 0.12 eV below the singlet
at the La-La cutoff 2.72 A, while at 2.2 A the singlet is lowest (by 0.07 eV).  The
singlet is kept for the whole curve because the baseline is subtracted from
spin-unpolarised DFT labels of a non-magnetic metal, because one state gives a smooth
curve (switching to the lowest state at each distance would put a kink in the wall), and
because the repulsive wall it must describe comes from the closed 5s5p shells
overlapping, which the few open valence electrons hardly change; ``--spin 2S`` computes
another state (UHF-CCSD) for comparison.

The curve is shifted to zero at the pair's cutoff (the largest distance): only the
repulsive range below the cutoff is used.  CCSD points are computed from the cutoff
inwards, each SCF starting from the previous point's density so that the whole curve
follows one electronic state, and cached (``cache_dir()/dimers``): a rerun or a finer
table costs nothing for points already done.

Tables are written on a fine grid from a cubic spline of r * E(r), which stays smooth
down to r -> 0 where E itself diverges like the nuclear repulsion Z1 Z2 / r; forces
are -dE/dr of that spline.  LAMMPS then spline-interpolates the rows again
(:mod:`hydropimd.pair.table`).
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.interpolate import CubicSpline

from hydropimd.data.location import cache_dir
from hydropimd.data.published import DIMER_CALCULATIONS, PAIR_CUTOFFS_ANGSTROM
from hydropimd.errors import InputError, RunFailed
from hydropimd.pair.table import TableSection, read_table, write_table
from hydropimd.structures import HYDROGEN

HARTREE_EV = 27.211386245988  # CODATA 2018


@dataclass(frozen=True)
class DimerSpec:
    """How one element pair is computed and tabulated (distances in angstrom)."""

    elements: tuple[str, str]
    keyword: str
    method: str
    basis: str
    ecp: str | None
    r_min: float
    r_max: float
    #: CCSD points computed between r_min and r_max
    points: int
    #: rows of the written table (the published table's count)
    rows: int


#: The study's dimers (:data:`hydropimd.data.published.DIMER_CALCULATIONS`), named A-B
DIMERS: dict[str, DimerSpec] = {keyword.replace("_", "-"): DimerSpec(elements, keyword, *rest)
                                for keyword, (elements, *rest) in DIMER_CALCULATIONS.items()}


#: rules for an element pair the study did not compute (docs/validation/dimer.md): CCSD with def2-QZVPPD
#: (and its ECP for elements past Kr, where def2 has one), cc-pV5Z for H-H, as the study chose for LaH10;
#: CCSD points from R_MIN_FRACTION of the cutoff up to the cutoff, tabulated on NEW_PAIR_ROWS rows
DEF2_ECP_FROM_Z = 37
R_MIN_FRACTION = 0.4
NEW_PAIR_POINTS = 20
NEW_PAIR_ROWS = 200
#: the cutoff of a new pair unless given: the distance of its dimer curve's minimum, so that the baseline is the
#: dimer's repulsive wall alone (zero from the bond length outwards).  The study's three cutoffs are their dimers'
#: bond lengths: H-H 0.74 A (H2: 0.741 A), La-H 2.02 A (LaH: 2.03 A, Huber & Herzberg), La-La 2.72 A.  The minimum
#: is searched on this grid, in units of the sum of the two covalent radii (ASE's, Cordero et al. 2008)
MINIMUM_SCAN_FRACTIONS = tuple(np.round(np.linspace(0.6, 1.6, 11), 2))


def dimer_spec(pair: str, cutoff_angstrom: float | None = None) -> DimerSpec:
    """The spec of ``pair``, written ``La-H``, ``H-La``, ``La_H`` or ``LaH`` (any case of separator).

    The study's three pairs keep their published ranges; any other pair of elements follows the rules above,
    its table ending at ``cutoff_angstrom`` (the baseline's cutoff for it: required to build its table).
    """
    from ase.data import atomic_numbers

    elements = [e for e in re.split(r"[-_ ]", pair.strip()) if e] if re.search(r"[-_ ]", pair) else re.findall(r"[A-Z][a-z]?", pair)
    if len(elements) != 2 or not all(e in atomic_numbers and e != "X" for e in elements):
        raise InputError(f"unknown pair '{pair}'; write two element symbols, e.g. S-H (the study's: {', '.join(DIMERS)})")
    for spec in DIMERS.values():
        if sorted(elements) == sorted(spec.elements):
            return spec
    a, b = sorted(elements, key=lambda e: -atomic_numbers[e])  # heavier first, as La_H
    basis = "cc-pV5Z" if a == b == HYDROGEN else "def2-QZVPPD"
    ecp = "def2-QZVPPD" if atomic_numbers[a] >= DEF2_ECP_FROM_Z else None
    r_max = float(cutoff_angstrom) if cutoff_angstrom else float("nan")
    return DimerSpec((a, b), f"{a}_{b}", "CCSD", basis, ecp, R_MIN_FRACTION * r_max, r_max, NEW_PAIR_POINTS,
                     NEW_PAIR_ROWS)


def _parabola_vertex(r, e) -> float:
    """The abscissa of the parabola through three points (r ascending, the middle one lowest)."""
    a, b, _ = np.polyfit(r, e, 2)
    return float(-b / (2 * a))


def equilibrium_distance(pair: str, basis: str | None = None, spin: int | None = None, cache: bool = True) -> float:
    """The bond length (A) of the isolated dimer at the pair's CCSD level: the default cutoff of a new pair.

    CCSD on ``MINIMUM_SCAN_FRACTIONS`` x the sum of covalent radii, a parabola through the lowest point and its
    two neighbours, then the same on three points a quarter of the grid step apart around that vertex (14 CCSD
    points, cached like every dimer point).  :class:`RunFailed` when the scan has no interior minimum.
    """
    from ase.data import atomic_numbers, covalent_radii

    spec = dimer_spec(pair)
    radii = sum(float(covalent_radii[atomic_numbers[e]]) for e in spec.elements)
    r = radii * np.array(MINIMUM_SCAN_FRACTIONS)
    e = dimer_energies(pair, r, basis=basis, spin=spin, cache=cache)
    k = int(np.argmin(e))
    if k in (0, len(r) - 1):
        raise RunFailed(f"{'-'.join(spec.elements)}: no minimum of the dimer curve between {r[0]:.2f} and {r[-1]:.2f} A "
                        "(a repulsive or unbound state); give the cutoff as --r-max")
    vertex = _parabola_vertex(r[k - 1:k + 2], e[k - 1:k + 2])
    step = (r[1] - r[0]) / 4
    fine = np.array([vertex - step, vertex, vertex + step])
    return _parabola_vertex(fine, dimer_energies(pair, fine, basis=basis, spin=spin, cache=cache))


def lowest_spin(spec: DimerSpec, basis: str) -> int:
    """2S of the dimer's default state: a singlet for an even electron count (the study's three pairs), a
    doublet for an odd one (S-H)."""
    return sum(_nelectrons(e, basis) for e in spec.elements) % 2


def _cache_file(spec: DimerSpec, basis: str, spin: int) -> Path:
    tag = f"{spec.elements[0]}-{spec.elements[1]}_{spec.method}_{basis}_spin{spin}".lower()
    return cache_dir() / "dimers" / f"{re.sub(r'[^a-z0-9_.-]', '_', tag)}.json"


def _load_cache(path: Path) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(path.read_text())["energies_hartree"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _save_cache(path: Path, energies: dict[str, float], meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**meta, "energies_hartree": dict(sorted(energies.items(), key=lambda kv: float(kv[0])))},
                              indent=1))
    os.replace(tmp, path)


def _distance_key(r: float) -> str:
    return f"{r:.6f}"


def ccsd_energy(elements, r_angstrom: float, basis: str, ecp: str | None, spin: int = 0, dm0=None):
    """CCSD total energy (hartree) of a dimer at ``r_angstrom``, and the SCF density for the next point.

    RHF reference for ``spin == 0`` (with an internal stability check: an unstable
    solution is followed downhill and reconverged), UHF otherwise.  A basis PySCF does not
    know raises :class:`InputError`; an SCF or CCSD that does not converge raises
    :class:`RunFailed` (not retryable: the same point fails the same way).
    """
    from pyscf import cc, gto, scf

    ecps = {e: ecp for e in set(elements) if e not in (HYDROGEN, "He")} if ecp else None
    try:
        with warnings.catch_warnings():  # PySCF warns before it fails on an unknown basis: the error below says it
            warnings.simplefilter("ignore")
            mol = gto.M(atom=[(elements[0], (0, 0, 0)), (elements[1], (0, 0, r_angstrom))], basis=basis,
                        ecp=ecps or None, spin=spin, unit="Angstrom", verbose=0)
    except (KeyError, RuntimeError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"PySCF cannot build {elements[0]}-{elements[1]} with basis {basis} (spin {spin}): {reason}; "
                         "give a basis PySCF knows (e.g. cc-pVTZ, def2-TZVP)") from None
    mf = scf.RHF(mol) if spin == 0 else scf.UHF(mol)
    mf.conv_tol, mf.max_cycle = 1e-10, 200
    use_guess = dm0 is not None and np.shape(dm0)[-1] == mol.nao
    mf.kernel(dm0 if use_guess else None)
    for _ in range(3):  # follow internal instabilities to the stable solution of this symmetry
        mo, _, stable, _ = mf.stability(return_status=True)
        if stable:
            break
        mf.kernel(mf.make_rdm1(mo, mf.mo_occ))
    if not mf.converged:
        raise RunFailed(f"Hartree-Fock did not converge for {elements[0]}-{elements[1]} at {r_angstrom:.4f} A; "
                        "try fewer points or another --spin")
    solver = cc.CCSD(mf)
    solver.conv_tol = 1e-9
    solver.max_cycle = 200
    e_corr = solver.kernel()[0]
    if not solver.converged:
        raise RunFailed(f"CCSD did not converge for {elements[0]}-{elements[1]} at {r_angstrom:.4f} A")
    return float(mf.e_tot + e_corr), mf.make_rdm1()


def dimer_energies(
    pair: str,
    distances_angstrom,
    basis: str | None = None,
    spin: int | None = None,
    cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """CCSD energies (eV, unshifted) of the isolated dimer at each distance (angstrom).

    Points are computed from the largest distance inwards (each SCF starts from the
    previous density) and cached per pair, basis and spin; cached points are reused.
    """
    spec = dimer_spec(pair)
    basis = basis or spec.basis
    spin = lowest_spin(spec, basis) if spin is None else spin
    ecp = _ecp_for(spec, basis)
    r = np.asarray(distances_angstrom, dtype=float)
    if np.any(r <= 0):
        raise InputError("dimer distances must be positive")
    path = _cache_file(spec, basis, spin)
    energies = _load_cache(path) if cache else {}
    meta = {"pair": "-".join(spec.elements), "method": spec.method, "basis": basis, "ecp": ecp, "spin": spin,
            "reference": "RHF" if spin == 0 else "UHF", "units": "hartree, angstrom"}
    order = np.argsort(-r)
    dm = None
    done = 0
    for k in order:
        key = _distance_key(r[k])
        if key not in energies:
            energies[key], dm = ccsd_energy(spec.elements, float(key), basis, ecp, spin, dm)
            if cache:
                _save_cache(path, _load_cache(path) | {key: energies[key]}, meta)
        done += 1
        if progress:
            progress(done, len(r))
    return np.array([energies[_distance_key(v)] for v in r]) * HARTREE_EV


def table_from_points(keyword: str, r_points, energies_ev, rows: int, r_min: float | None = None,
                      r_max: float | None = None) -> TableSection:
    """A table section on ``rows`` evenly spaced radii from dimer energies at ``r_points``.

    Energies are shifted to zero at ``r_max`` (default: the largest point, the cutoff);
    the spline is of r * E(r), smooth through the 1/r nuclear repulsion; force = -dE/dr.
    """
    r_points = np.asarray(r_points, dtype=float)
    energies_ev = np.asarray(energies_ev, dtype=float)
    order = np.argsort(r_points)
    r_points, energies_ev = r_points[order], energies_ev[order]
    if len(r_points) < 4 or np.any(np.diff(r_points) <= 0):
        raise InputError(f"{keyword}: need at least 4 distinct dimer distances to tabulate a curve")
    r_min = float(r_points[0]) if r_min is None else float(r_min)
    r_max = float(r_points[-1]) if r_max is None else float(r_max)
    if r_min < r_points[0] - 1e-9 or r_max > r_points[-1] + 1e-9 or r_min >= r_max:
        raise InputError(f"{keyword}: table range {r_min}-{r_max} A must lie inside the computed points "
                         f"{r_points[0]:.4f}-{r_points[-1]:.4f} A")
    spline = CubicSpline(r_points, r_points * energies_ev)
    e_cut = float(spline(r_max)) / r_max
    r = np.linspace(r_min, r_max, rows)
    s, ds = spline(r), spline(r, 1)
    energy = s / r - e_cut
    force = -(ds * r - s) / r**2
    energy[-1] = 0.0  # exactly zero at the cutoff (round-off of the spline otherwise)
    return TableSection(keyword, r, energy, force)


#: energy below which a pair distance is reachable in the simulations (far above k_B T at 300 K and the
#: zero-point energy); the comparison is also reported over this range of the wall
ACCESSIBLE_EV = 10.0


def compare_sections(ours: TableSection, published: TableSection, accessible_ev: float = ACCESSIBLE_EV) -> dict:
    """Largest deviation between two curves over their common range (the repulsive range below the cutoff).

    Both are evaluated on the published radii inside the common range.  Returns the
    largest absolute deviation (eV) and where it occurs, the largest deviation relative
    to the published energy where that exceeds 0.1 eV, and the same over the part of
    the wall below ``accessible_ev`` (the distances MD can reach).
    """
    lo, hi = max(ours.r[0], published.r[0]), min(ours.r[-1], published.r[-1])
    mask = (published.r >= lo - 1e-12) & (published.r <= hi + 1e-12)
    if mask.sum() < 2:
        raise InputError(f"{ours.keyword}: the two tables share no range to compare ({lo:.3f}-{hi:.3f} A)")
    r = published.r[mask]
    theirs = published.energy[mask]
    mine = CubicSpline(ours.r, ours.energy)(r)

    def worst(select):
        diff = mine[select] - theirs[select]
        k = int(np.argmax(np.abs(diff)))
        big = theirs[select] > 0.1
        rel = np.abs(diff[big]) / theirs[select][big] if big.any() else np.array([0.0])
        return {
            "r_range_angstrom": [float(r[select][0]), float(r[select][-1])],
            "n_compared": int(select.sum()),
            "max_abs_deviation_ev": float(abs(diff[k])),
            "at_r_angstrom": float(r[select][k]),
            "ours_ev": float(mine[select][k]),
            "published_ev": float(theirs[select][k]),
            "max_rel_deviation": float(rel.max()),
        }

    report = {"keyword": ours.keyword, **worst(np.ones(len(r), bool))}
    accessible = theirs <= accessible_ev
    if accessible.sum() >= 2:
        report["accessible"] = {"below_ev": accessible_ev, **worst(accessible)}
    report["inner_end"] = {"r_angstrom": float(r[0]), "ours_ev": float(mine[0]), "published_ev": float(theirs[0])}
    return report


def plot_comparison(ours: TableSection, published: TableSection | None, path: str | os.PathLike, title: str = "") -> Path:
    """PNG of both curves (energy on a log scale, where the wall spans decades)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, axd) = plt.subplots(2, 1, figsize=(6, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    positive = ours.energy > 0
    ax.semilogy(ours.r[positive], ours.energy[positive], label="this work (PySCF CCSD)", lw=2)
    if published is not None:
        p = published.energy > 0
        ax.semilogy(published.r[p], published.energy[p], "--", label="published table", lw=1.5)
        lo, hi = max(ours.r[0], published.r[0]), min(ours.r[-1], published.r[-1])
        m = (published.r >= lo) & (published.r <= hi)
        axd.plot(published.r[m], CubicSpline(ours.r, ours.energy)(published.r[m]) - published.energy[m])
    axd.axhline(0, color="k", lw=0.5)
    axd.set_ylabel("ours - published (eV)")
    axd.set_xlabel("r (angstrom)")
    ax.set_ylabel("E(r) - E(cutoff) (eV)")
    ax.set_title(title or ours.keyword)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _checked_range(spec: DimerSpec, r_min, r_max, points, rows, basis: str | None, spin: int) -> tuple[float, float, int, int]:
    """``r_min``, ``r_max`` (angstrom), ``points`` and ``rows`` with the spec's defaults, refused when unusable."""
    if np.isnan(spec.r_max):
        raise InputError(f"{'-'.join(spec.elements)} is not one of the study's pairs: give its cutoff as --r-max "
                         "(A; where the baseline stops, e.g. a little below the shortest such distance in the labelled "
                         "data)")
    r_min = spec.r_min if r_min is None else float(r_min)
    r_max = spec.r_max if r_max is None else float(r_max)
    points = spec.points if points is None else int(points)
    rows = spec.rows if rows is None else int(rows)
    if not 0 < r_min < r_max:
        raise InputError(f"need 0 < --r-min < --r-max (got {r_min}, {r_max}) in angstrom")
    if abs(r_max - spec.r_max) > 1e-9:
        # the pair baseline (like the study's pair_coeff lines) cuts this pair at its published cutoff whatever the
        # table holds: a table shifted to zero elsewhere would jump there
        cutoff = PAIR_CUTOFFS_ANGSTROM.get(spec.keyword, spec.r_max)
        raise InputError(f"--r-max {r_max}: the {'-'.join(spec.elements)} table must end at {spec.r_max:.4f} A, at the "
                         f"{cutoff} A cutoff of the pair baseline (the study's pair_coeff), so that its energy is zero "
                         "there; leave --r-max out")
    if points < 4:
        raise InputError(f"--points {points}: need at least 4 CCSD points for a curve")
    if rows < 2:
        raise InputError(f"--rows {rows}: a table needs at least 2 rows")
    if spin < 0 or (spin + sum(_nelectrons(e, basis or spec.basis) for e in spec.elements)) % 2:
        raise InputError(f"--spin {spin} (2S) is impossible for {'-'.join(spec.elements)}: it must be >= 0 with the "
                         "parity of the electron count")
    return r_min, r_max, points, rows


def _section_to_compare(spec: DimerSpec, compare) -> tuple[str | os.PathLike | None, TableSection | None]:
    """The table to compare with (``"published"``: the study's full.table) and its section of this pair."""
    if compare is None:
        return None, None
    if str(compare) == "published":  # the study's table, by the data-location rule
        from hydropimd.data.location import published_path

        compare = published_path("tables/full.table")
    sections = read_table(compare)
    if spec.keyword not in sections:
        raise InputError(f"{compare} has no section {spec.keyword} to compare with (it has {', '.join(sections)})")
    return compare, sections[spec.keyword]


def _ecp_for(spec: DimerSpec, basis: str) -> str | None:
    """The effective core potential used with ``basis``: the def2 ECP goes with def2 bases only."""
    return spec.ecp if basis.lower().startswith("def2") else None


def _method_record(spec: DimerSpec, basis: str, spin: int) -> dict:
    """The pair and how its curve was computed, as the summary reports them."""
    return {"pair": "-".join(spec.elements), "keyword": spec.keyword, "method": spec.method, "basis": basis,
            "ecp": _ecp_for(spec, basis), "spin_2s": spin, "reference": "RHF" if spin == 0 else "UHF"}


def _table_comment(spec: DimerSpec, basis: str, spin: int, points: int, r_min: float, r_max: float) -> str:
    """The table file's comment line: method, basis, reference, points and units."""
    ecp = _ecp_for(spec, basis)
    return (f"hydropimd pair dimer: {'-'.join(spec.elements)} {spec.method}/{basis}"
            f"{' + ECP ' + ecp if ecp else ''}, "
            f"{'RHF' if spin == 0 else 'UHF'} reference, 2S = {spin}; {points} points {r_min:.6f}-{r_max:.6f} A, "
            f"shifted to zero at the cutoff {r_max:.6f} A; energies eV, forces eV/A")


def build_dimer_table(
    pair: str,
    output: str | os.PathLike,
    r_min: float | None = None,
    r_max: float | None = None,
    points: int | None = None,
    rows: int | None = None,
    basis: str | None = None,
    spin: int | None = None,
    compare: str | os.PathLike | None = None,
    figure: str | os.PathLike | None = None,
    cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Compute a dimer curve and write it as a LAMMPS table section; optionally compare with another table.

    ``output`` keeps its other sections: running the three pairs into one file builds a
    ``full.table``.  ``r_max`` is the cutoff, where the energy is zero.  ``compare`` is a
    table with a section of the same keyword (e.g. the published ``full.table``;
    ``compare="published"`` finds it by the data-location rule); ``figure`` a PNG path for
    both curves.  Bad arguments raise :class:`InputError` before any CCSD runs; a point that
    does not converge raises :class:`RunFailed`.  Returns a JSON-ready summary.
    """
    spec = dimer_spec(pair, cutoff_angstrom=r_max)
    spin = lowest_spin(spec, basis or spec.basis) if spin is None else spin
    if np.isnan(spec.r_max):  # a new pair without a cutoff: the dimer's bond length (MINIMUM_SCAN_FRACTIONS)
        r_max = equilibrium_distance(pair, basis=basis, spin=spin, cache=cache)
        spec = dimer_spec(pair, cutoff_angstrom=r_max)
    r_min, r_max, points, rows = _checked_range(spec, r_min, r_max, points, rows, basis, spin)
    compare, published = _section_to_compare(spec, compare)
    output = Path(output)
    existing = read_table(output) if output.exists() else {}  # refuses a file that is not a table before hours of CCSD
    start = time.perf_counter()
    r_points = np.linspace(r_min, r_max, points)
    energies = dimer_energies(pair, r_points, basis=basis, spin=spin, cache=cache, progress=progress)
    section = table_from_points(spec.keyword, r_points, energies, rows)
    existing[spec.keyword] = section
    basis = basis or spec.basis
    output.parent.mkdir(parents=True, exist_ok=True)
    write_table(output, list(existing.values()), comment=_table_comment(spec, basis, spin, points, r_min, r_max))
    summary = {
        **_method_record(spec, basis, spin),
        "output": str(output),
        "r_min_angstrom": r_min,
        "cutoff_angstrom": r_max,
        "points": points,
        "rows": rows,
        "r_angstrom": r_points,
        "energy_ev": energies - energies[-1],
        "binding_at_r_min_ev": float(section.energy[0]),
        "seconds": time.perf_counter() - start,
    }
    if published is not None:
        summary["comparison"] = compare_sections(section, published)
        summary["comparison"]["table"] = str(compare)
    if figure is not None:
        summary["figure"] = str(plot_comparison(section, published, figure,
                                                f"{'-'.join(spec.elements)}: {spec.method}/{basis}, 2S = {spin}"))
    return summary


def _nelectrons(element: str, basis: str) -> int:
    """Electrons PySCF keeps for ``element``: all of them, less the core of the def2 ECP that a def2 basis brings
    from Rb on (``DEF2_ECP_FROM_Z``; PySCF's own ECP tables: La 46, Y 28)."""
    from ase.data import atomic_numbers

    z = atomic_numbers[element]
    if z >= DEF2_ECP_FROM_Z and basis.lower().startswith("def2"):
        from pyscf.gto.basis import load_ecp

        return z - int(load_ecp(basis, element)[0])
    return z

