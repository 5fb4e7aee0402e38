"""``hydropimd analyze``: JSON payloads, tables, figures and one-line errors for bad input (through add_commands)."""

import json

import numpy as np
import pytest
from ase.io import write

from hydropimd.cli import output
from hydropimd.errors import InputError
from hydropimd.structures import build_lah10
from tests.analysis.synthetic import shape_series, simulation_cells, write_run, write_trajectory

RUN_JSON = {"temperature_k": 300, "pressure_gpa": 120, "beads": 16, "isotope": "D", "natoms": 32, "timestep_fs": 0.5,
            "stride": 20}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2x2x2 conventional run directory with a rhombohedral 94/86/86 cell and thermal noise, 200 frames."""
    rng = np.random.default_rng(11)
    lengths, angles = shape_series(rng, 200, (94, 86, 86), sigma_deg=0.3)
    return write_run(tmp_path_factory.mktemp("run") / "r", simulation_cells(lengths, angles, rotate=True),
                     np.arange(200) * 0.01, RUN_JSON, hydrogens=64, jitter=0.02)


def test_cell_json_keys(cli, run, capsys):
    cli("cell", run, "--json", "--quiet")
    report = json.loads(capsys.readouterr().out)
    for key in ("classification", "angles_deg", "angles_stderr_deg", "lengths_angstrom", "lengths_stderr_angstrom", "n_effective",
                "angle_deviations_sorted_deg", "shuttling", "mapping"):
        assert key in report
    assert report["classification"] == "rhombohedral"
    np.testing.assert_allclose(report["angles_deg"], [94, 86, 86], atol=0.2)
    assert report["time_source"] == "time_ps of each frame" and report["metadata"]["isotope"] == "D"


def test_cell_table_and_figures(cli, run, tmp_path, capsys):
    cli("cell", run, "--quiet", "--plot", tmp_path / "cell.png")
    table = capsys.readouterr().out
    assert "rhombohedral" in table and "2x2x2 fcc" in table
    assert (tmp_path / "cell.png").read_bytes().startswith(b"\x89PNG")
    cli("cell", run / "centroid.extxyz", "--quiet", "--plot", tmp_path / "cell.pdf")
    assert (tmp_path / "cell.pdf").read_bytes().startswith(b"%PDF")


def test_cell_from_table_csv(tmp_path, capsys, cli):
    """A run directory with table.csv and its start structure (no trajectory): cells from its a, b, c, alpha, beta,
    gamma; lattice sites from the start structure's atoms (its heaviest element)."""
    rng = np.random.default_rng(3)
    lengths, angles = shape_series(rng, 100, (90, 90, 90))
    simulation = 2 * lengths
    rows = ["step,time_ps,a,b,c,alpha,beta,gamma,volume,pressure_gpa,temperature_k,potential_ev,conserved_ev,kinetic_cv_ev"]
    rows += [f"{20 * i},{0.01 * i},{s[0]},{s[1]},{s[2]},{a[0]},{a[1]},{a[2]},0,0,0,0,0,0" for i, (s, a) in enumerate(zip(simulation, angles))]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "run.json").write_text(json.dumps({**RUN_JSON, "natoms": 352}))
    write(tmp_path / "init.extxyz", build_lah10(supercell=2))
    cli("cell", tmp_path, "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["classification"] == "cubic" and report["mapping"]["supercell"] == [2, 2, 2]
    np.testing.assert_allclose(report["lengths_angstrom"], 5.1, atol=0.01)


def test_xrd_json_and_side_by_side_plot(cli, run, tmp_path, capsys):
    structure = tmp_path / "cubic.xyz"
    write(structure, build_lah10(supercell=2))
    cli("xrd", structure, run, "--wavelength", 0.3344, "--json", "--quiet", "--plot", tmp_path / "xrd.png")
    payload = json.loads(capsys.readouterr().out)
    cubic, distorted = payload["patterns"]
    assert [p["hkl_family"] for p in cubic["peaks"][:2]] == [[1, 1, 1], [2, 0, 0]]
    assert len([p for p in distorted["peaks"] if p["hkl_family"] == [1, 1, 1]]) == 2
    assert (tmp_path / "xrd.png").stat().st_size > 0
    cli("xrd", structure, "--wavelength", 0.2952)
    assert "powder pattern" in capsys.readouterr().out


def test_hydrogen_and_phase_tables(cli, run, capsys):
    cli("hydrogen", run, "--quiet", "--rdf-frames", 3)
    assert "verdict" in capsys.readouterr().out
    cli("phase", run, "--quiet")
    out = capsys.readouterr().out
    assert "path-integral, D" in out and "transition pressure" in out


def one_line_error(cli, *argv) -> str:
    with pytest.raises(InputError) as err:
        cli(*argv)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_bad_input_gives_one_line_errors(cli, run, tmp_path):
    empty = tmp_path / "empty.extxyz"
    empty.write_text("")
    assert "no frames" in one_line_error(cli, "cell", empty)
    rng = np.random.default_rng(0)
    lengths, angles = shape_series(rng, 10, (90, 90, 90))
    short = write_trajectory(tmp_path / "short.extxyz", simulation_cells(lengths, angles), np.arange(10) * 0.01)
    assert "at least 32 frames" in one_line_error(cli, "cell", short)
    assert "longer" in one_line_error(cli, "cell", run, "--discard-ps", 5)  # the run lasts 1.99 ps
    assert "element Ca is not in" in one_line_error(cli, "xrd", run, "--wavelength", 0.3344, "--element", "Ca")
    assert "must be positive" in one_line_error(cli, "xrd", run, "--wavelength", -1)
    assert ".png or .pdf" in one_line_error(cli, "cell", run, "--plot", tmp_path / "cell.svg")
    assert "does not exist" in one_line_error(cli, "cell", tmp_path / "nowhere")
    assert "between 0 and 0.5" in one_line_error(cli, "cell", run, "--significance", 2)
    assert "at least 1" in one_line_error(cli, "hydrogen", run, "--bins", 0)
    assert "at least 1" in one_line_error(cli, "hydrogen", run, "--rdf-frames", 0)
    lengths, angles = shape_series(rng, 40, (90, 90, 90), lengths=(5.0, 7.0, 11.0))
    odd = write_trajectory(tmp_path / "odd.extxyz", simulation_cells(lengths, angles, n=1), n=1)
    assert "cannot be mapped to a pseudo-cubic" in one_line_error(cli, "cell", odd)


def test_error_printing_is_one_line(capsys):
    output.error(str(InputError("x.extxyz contains no frames")))
    assert capsys.readouterr().err.strip().count("\n") == 0
    output.error("mode dpdispatcher needs a [cluster] table")  # brackets are text, not rich markup
    assert "needs a [cluster] table" in capsys.readouterr().err


def test_any_ase_trajectory_with_dt(cli, tmp_path, capsys):
    """An ASE .traj of rotated 3x3x3 primitive cells (angles near 60 deg) without time_ps: --dt-ps sets the time axis."""
    from ase import Atoms

    from tests.analysis.synthetic import fcc_sites

    lengths, angles = shape_series(np.random.default_rng(4), 60, (94, 86, 86))
    cells = simulation_cells(lengths, angles, "primitive", 3, rotate=True)
    write(tmp_path / "run.traj", [Atoms("La27", positions=fcc_sites(c, "primitive", 3), cell=c, pbc=True) for c in cells])
    cli("cell", tmp_path / "run.traj", "--dt-ps", 0.02, "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["classification"] == "rhombohedral" and report["mapping"]["kind"] == "primitive"
    assert report["time_ps"] == [0.0, pytest.approx(59 * 0.02)] and report["time_source"] == "frame x --dt-ps"
    np.testing.assert_allclose(report["angles_deg"], [94, 86, 86], atol=0.3)
