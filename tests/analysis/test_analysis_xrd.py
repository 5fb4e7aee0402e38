"""Powder diffraction: Bragg angles, fcc selection rules and intensities, peak splitting, Debye route, Debye-Waller."""

import json

import numpy as np
import pytest
from ase.io import write
from ase.spacegroup import crystal

from hydropimd.analysis import analyze_xrd, powder_pattern
from hydropimd.lattice import find_pseudo_cubic_mapping, metric_from_cells
from hydropimd.analysis.xrd import form_factor, lorentz_polarization
from hydropimd.errors import InputError
from hydropimd.structures import build_lah10

WAVELENGTH = 0.3344
A = 5.1
MULTIPLICITY = {(1, 1, 1): 8, (2, 0, 0): 6, (2, 2, 0): 12, (3, 1, 1): 24, (2, 2, 2): 8, (4, 0, 0): 6,
                (3, 3, 1): 24, (4, 2, 0): 24, (4, 2, 2): 24}


def la_pattern(atoms, **kw):
    la = atoms[[s == "La" for s in atoms.get_chemical_symbols()]]
    mapping = find_pseudo_cubic_mapping(metric_from_cells(atoms.cell.array), len(la))
    return powder_pattern(la.positions[None], atoms.cell.array[None], mapping, WAVELENGTH, "La", **kw)


def bragg_two_theta(d):
    return np.degrees(2 * np.arcsin(WAVELENGTH / (2 * d)))


@pytest.mark.parametrize("cell, supercell", [("conventional", 1), ("conventional", 2), ("primitive", 3)])
def test_perfect_fcc_la_follows_bragg_and_the_fcc_structure_factor(cell, supercell):
    peaks = la_pattern(build_lah10(a=A, cell=cell, supercell=supercell), two_theta_range_deg=(2.0, 19.0))["peaks"]
    families = [tuple(p["hkl_family"]) for p in peaks]
    assert families == list(MULTIPLICITY)  # (111), (200), ..., (422) below 19 deg: only h, k, l all even or all odd
    for p in peaks:
        h = np.array(p["hkl_family"])
        assert len(set(h % 2)) == 1  # fcc selection rule
        d = A / np.sqrt(h @ h)
        assert p["d_angstrom"] == pytest.approx(d, rel=1e-9)
        assert p["two_theta_deg"] == pytest.approx(bragg_two_theta(d), abs=1e-9)  # lambda = 2 d sin(theta)
        assert p["multiplicity"] == MULTIPLICITY[tuple(p["hkl_family"])]
    # |F|^2 = 16 f^2 for every allowed reflection: I ~ m f(q)^2 LP(theta), relative to (111).
    tt = np.array([p["two_theta_deg"] for p in peaks])
    q = 4 * np.pi * np.sin(np.radians(tt / 2)) / WAVELENGTH
    expected = np.array([MULTIPLICITY[f] for f in families]) * form_factor("La", q) ** 2 * lorentz_polarization(tt)
    np.testing.assert_allclose([p["intensity"] for p in peaks], 100 * expected / expected[0], rtol=1e-9)


def test_without_lorentz_polarization_intensity_is_multiplicity_times_f_squared():
    peaks = la_pattern(build_lah10(a=A), lorentz_polarization_factor=False)["peaks"]
    tt = np.array([p["two_theta_deg"] for p in peaks])
    q = 4 * np.pi * np.sin(np.radians(tt / 2)) / WAVELENGTH
    ratio = np.array([p["multiplicity"] for p in peaks]) * form_factor("La", q) ** 2
    np.testing.assert_allclose([p["intensity"] for p in peaks], 100 * ratio / ratio.max(), rtol=1e-9)


def conventional_two_theta(hkl, cell):
    q = 2 * np.pi * np.linalg.norm(np.linalg.solve(cell, np.array(hkl, dtype=float)))
    return np.degrees(2 * np.arcsin(q * WAVELENGTH / (4 * np.pi)))


def peaks_of(peaks, family):
    return [p for p in peaks if tuple(p["hkl_family"]) == family]


def test_rhombohedral_distortion_splits_111_but_not_200():
    atoms = build_lah10(a=A, supercell=2, angles=(94, 86, 86))
    peaks = la_pattern(atoms)["peaks"]
    split = peaks_of(peaks, (1, 1, 1))
    assert len(split) == 2 and len(peaks_of(peaks, (2, 0, 0))) == 1
    conventional = atoms.cell.array / 2
    unique = min(split, key=lambda p: p["multiplicity"])
    assert unique["multiplicity"] == 2 and unique["hkl"] == [1, -1, -1]  # the body diagonal of the 94/86/86 cell
    assert unique["two_theta_deg"] == pytest.approx(conventional_two_theta([1, -1, -1], conventional), abs=1e-9)
    other = max(split, key=lambda p: p["multiplicity"])
    assert other["two_theta_deg"] == pytest.approx(conventional_two_theta([1, 1, 1], conventional), abs=1e-9)
    scale = form_factor("La", 4 * np.pi * np.sin(np.radians(np.array([unique["two_theta_deg"], other["two_theta_deg"]]) / 2))
                        / WAVELENGTH) ** 2 * lorentz_polarization([unique["two_theta_deg"], other["two_theta_deg"]])
    assert other["intensity"] / unique["intensity"] == pytest.approx(3 * scale[1] / scale[0], rel=1e-9)


def test_tetragonal_distortion_splits_200_but_not_111():
    atoms = build_lah10(a=A)
    atoms.set_cell(atoms.cell.array @ np.diag([1.0, 1.0, 1.03]), scale_atoms=True)
    peaks = la_pattern(atoms)["peaks"]
    assert len(peaks_of(peaks, (1, 1, 1))) == 1
    split = peaks_of(peaks, (2, 0, 0))
    assert sorted(p["multiplicity"] for p in split) == [2, 4]
    assert min(p["two_theta_deg"] for p in split) == pytest.approx(bragg_two_theta(A * 1.03 / 2), abs=1e-9)


def test_debye_route_agrees_with_reciprocal_route():
    atoms = build_lah10(a=A, supercell=2, angles=(94, 86, 86))
    options = {"fwhm_deg": 0.6, "two_theta_range_deg": (4.0, 14.0), "step_deg": 0.01}
    reciprocal, debye = la_pattern(atoms, **options), la_pattern(atoms, method="debye", **options)
    assert np.abs(reciprocal["intensity"] - debye["intensity"]).max() < 5.0  # % of the maximum
    strongest = debye["peaks"][int(np.argmax([p["intensity"] for p in debye["peaks"]]))]
    assert strongest["hkl_family"] == [1, 1, 1] and strongest["two_theta_deg"] == pytest.approx(6.36, abs=0.05)
    with pytest.raises(InputError, match="r_max"):
        la_pattern(atoms, method="debye", fwhm_deg=0.03)


def test_thermal_motion_lowers_high_angle_peaks_by_the_debye_waller_factor(rng):
    atoms = build_lah10(a=A, supercell=2)
    la = atoms[[s == "La" for s in atoms.get_chemical_symbols()]]
    u = 0.06  # angstrom, rms displacement per Cartesian component
    positions = la.positions[None] + rng.normal(scale=u, size=(400, len(la), 3))
    cells = np.repeat(atoms.cell.array[None], 400, axis=0)
    mapping = find_pseudo_cubic_mapping(metric_from_cells(atoms.cell.array), len(la))
    hot = powder_pattern(positions, cells, mapping, WAVELENGTH, "La")["peaks"]
    cold = la_pattern(atoms)["peaks"]
    # Diffuse scattering reaches the forbidden positions (100), (110), ... but is not listed as peaks.
    assert [p["hkl_family"] for p in hot] == [p["hkl_family"] for p in cold]
    q = lambda p: 4 * np.pi * np.sin(np.radians(p["two_theta_deg"] / 2)) / WAVELENGTH  # noqa: E731
    for h, c in zip(hot[1:], cold[1:]):
        expected = np.exp(-(q(c) ** 2 - q(cold[0]) ** 2) * u**2)  # <|F|^2> ~ N^2 exp(-q^2 u^2), relative to (111)
        assert h["intensity"] / c["intensity"] == pytest.approx(expected, rel=0.03)


def test_analyze_xrd_of_files_and_bad_input(tmp_path):
    cubic, distorted = tmp_path / "cubic.xyz", tmp_path / "rh.xyz"
    write(cubic, build_lah10(a=A, supercell=2))
    write(distorted, build_lah10(a=A, supercell=2, angles=(94, 86, 86)))
    result = analyze_xrd([cubic, distorted], WAVELENGTH, plot=tmp_path / "xrd.png")
    assert len(result["patterns"]) == 2 and (tmp_path / "xrd.png").stat().st_size > 0
    single = analyze_xrd(str(cubic), WAVELENGTH)
    json.dumps(single["peaks"])
    assert {"two_theta_deg", "d_angstrom", "hkl", "intensity"} <= set(single["peaks"][0])
    with pytest.raises(InputError, match="must be positive"):
        analyze_xrd(str(cubic), 0.0)
    with pytest.raises(InputError, match="element Ca is not in"):
        analyze_xrd(str(cubic), WAVELENGTH, element="Ca")
    with pytest.raises(InputError, match=r"--wavelength 100 A reaches no reflection .* below 3\.54 A"):
        analyze_xrd(str(cubic), 100.0)  # 2 x 10.2 A (the 2x2x2 cell) x sin(10 deg) = 3.54 A: nothing in 2-20 deg
    broken = build_lah10(a=A)
    broken.positions[0, 0] = np.nan
    write(tmp_path / "nan.extxyz", broken)
    with pytest.raises(InputError, match="NaN"):
        analyze_xrd(str(tmp_path / "nan.extxyz"), WAVELENGTH)


#: The hand table used before xraydb: Cromer-Mann coefficients of La (a1, b1, ..., a4, b4, c), International Tables
#: Vol. C Table 6.1.1.4.
CROMER_MANN_LA = (20.578, 2.94817, 19.599, 0.244475, 11.3727, 18.7726, 3.28719, 133.124, 2.14678)


def test_form_factor_of_la_agrees_with_the_cromer_mann_table_and_any_element_has_one():
    q = np.linspace(0.0, 10.0, 41)  # 1/A: sin(theta)/lambda up to 0.8, beyond the 2theta range of the study
    s2 = (q / (4 * np.pi)) ** 2
    a, b, c = CROMER_MANN_LA[0:8:2], CROMER_MANN_LA[1:8:2], CROMER_MANN_LA[8]
    cromer_mann = sum(ai * np.exp(-bi * s2) for ai, bi in zip(a, b)) + c
    np.testing.assert_allclose(form_factor("La", q), cromer_mann, rtol=0.01)
    assert form_factor("La", 0.0) == pytest.approx(57, rel=0.002)  # f(0) = Z
    for symbol, z in [("S", 16), ("Y", 39), ("Ca", 20), ("Ce", 58), ("H", 1), ("D", 1)]:
        assert form_factor(symbol, np.array([0.0]))[0] == pytest.approx(z, rel=0.005)
    with pytest.raises(InputError, match="no X-ray form factor"):
        form_factor("Xx", q)


def h3s(a=3.09):
    return crystal(["S", "H"], basis=[(0, 0, 0), (0.5, 0, 0)], spacegroup=229, cellpar=[a, a, a, 90, 90, 90])


def test_bcc_and_fcc_parents_follow_their_selection_rules(tmp_path):
    write(tmp_path / "h3s.xyz", h3s() * (2, 2, 2))
    write(tmp_path / "lah10.xyz", build_lah10(a=A, supercell=2))
    bcc = analyze_xrd(tmp_path / "h3s.xyz", WAVELENGTH, lattice="bcc", two_theta_max_deg=25.0)
    fcc = analyze_xrd(tmp_path / "lah10.xyz", WAVELENGTH, two_theta_max_deg=25.0)
    assert bcc["element"] == "S" and bcc["n_atoms"] == 16 and fcc["element"] == "La" and fcc["n_atoms"] == 32  # no H
    families = [tuple(p["hkl_family"]) for p in bcc["peaks"]]
    assert families[:4] == [(1, 1, 0), (2, 0, 0), (2, 1, 1), (2, 2, 0)]
    assert all(sum(f) % 2 == 0 for f in families)  # bcc: h + k + l even
    assert [tuple(p["hkl_family"]) for p in fcc["peaks"]][:3] == [(1, 1, 1), (2, 0, 0), (2, 2, 0)]
    assert all(len({v % 2 for v in p["hkl_family"]}) == 1 for p in fcc["peaks"])  # fcc: all even or all odd
    for p in bcc["peaks"]:
        d = 3.09 / np.sqrt(np.sum(np.square(p["hkl_family"])))
        assert p["two_theta_deg"] == pytest.approx(bragg_two_theta(d), abs=1e-9)
    assert "Waasmaier-Kirfel" in bcc["conventions"]


def test_two_heavy_species_scatter_with_their_own_form_factors():
    # CsCl-type LaS on a simple cubic lattice: F = f_La + f_S for h + k + l even, f_La - f_S for odd
    a = 3.0
    atoms = crystal(["La", "S"], basis=[(0, 0, 0), (0.5, 0.5, 0.5)], spacegroup=221, cellpar=[a, a, a, 90, 90, 90])
    mapping = find_pseudo_cubic_mapping(metric_from_cells(atoms.cell.array), 1, "sc")
    result = powder_pattern(atoms.positions[None], atoms.cell.array[None], mapping, WAVELENGTH, None,
                            lorentz_polarization_factor=False, symbols=atoms.get_chemical_symbols())
    assert result["element"] == "La, S"
    peaks = {tuple(p["hkl_family"]): p for p in result["peaks"]}
    q = lambda f: 2 * np.pi * np.sqrt(sum(v * v for v in f)) / a  # noqa: E731
    expected = {f: peaks[f]["multiplicity"] * (form_factor("La", q(f)) + (-1) ** sum(f) * form_factor("S", q(f))) ** 2
                for f in [(1, 0, 0), (1, 1, 0), (1, 1, 1)]}
    ratio = peaks[(1, 0, 0)]["intensity"] / peaks[(1, 1, 0)]["intensity"]
    assert ratio == pytest.approx(expected[(1, 0, 0)] / expected[(1, 1, 0)], rel=1e-6)
    with pytest.raises(InputError, match="one species"):
        powder_pattern(atoms.positions[None], atoms.cell.array[None], mapping, WAVELENGTH, None, method="debye",
                       fwhm_deg=0.6, two_theta_range_deg=(4.0, 14.0), step_deg=0.01, symbols=atoms.get_chemical_symbols())


@pytest.mark.parametrize("cell", ["conventional", "primitive"])
def test_a_structure_files_recorded_parent_lattice_is_used(tmp_path, cell):
    """'structure build h3s' records parent_lattice=bcc in the extxyz: its pattern needs no --lattice (it was mapped
    to fcc and refused); --lattice still overrides the record."""
    from hydropimd.structures import build_structure

    path = tmp_path / "h3s.extxyz"
    write(path, build_structure("h3s", a=3.09, cell=cell, supercell=2), format="extxyz")
    pattern = analyze_xrd(path, WAVELENGTH)
    assert [tuple(p["hkl_family"]) for p in pattern["peaks"]][:3] == [(1, 1, 0), (2, 0, 0), (2, 1, 1)]
    with pytest.raises(InputError, match="pseudo-cubic fcc cell"):
        analyze_xrd(path, WAVELENGTH, lattice="fcc")
