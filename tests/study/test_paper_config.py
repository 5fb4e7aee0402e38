"""A study of a paper's figures: grid blocks ([[grid.also]]), published statements checked in the report
([[analysis.expectations]]), and the shipped lah10-paper study."""

import pytest

from hydropimd.errors import InputError
from hydropimd.md.beads import recommend_beads
from hydropimd.md.settings import MDSettings
from hydropimd.study.config import Expectation, load_config
from hydropimd.study.report import check_expectation
from tests.study.test_study import CONFIG, _study

BLOCKS = CONFIG.format(p1=120) + """
[[grid.also]]
temperatures_k = [100]
pressures_gpa = [100]
isotopes = ["D"]
beads = [4]

[[grid.also]]
temperatures_k = [300]
pressures_gpa = [120]
"""


def test_grid_blocks_add_their_points_once(tmp_path, published):
    plain, _ = _study(tmp_path)
    study, _ = _study(tmp_path, BLOCKS)
    names = [r.name for r in study.config.runs()]
    # the main block's points first, then the new ones; 300 K / 120 GPa / H / 1 bead is not repeated
    assert names == [r.name for r in plain.config.runs()] + ["T100K-P100GPa-D-4beads"]
    assert study.config.grid.all_isotopes() == ["H", "D"]
    assert study.config.digest() != plain.config.digest()
    # without blocks the digest is the one earlier versions wrote for the same file
    assert "also" not in str(plain.config.grid.fingerprint())


def test_classical_points_of_a_path_integral_grid_run_with_langevin(published):
    options = load_config("lah10-paper")[0].md
    classical = MDSettings.at_point(options, model="m.pb", temperature_k=300.0, pressure_gpa=150.0, beads=1)
    quantum = MDSettings.at_point(options, model="m.pb", temperature_k=300.0, pressure_gpa=150.0, beads=4)
    assert (classical.sampling, quantum.sampling) == ("pile", "piglet")
    with pytest.raises(ValueError, match="path-integral scheme"):
        MDSettings(model="m.pb", temperature_k=300.0, pressure_gpa=150.0, beads=1, sampling="piglet")


def _row(pressure, classification, beads=1, isotope="H", temperature=300.0):
    return {"temperature_k": temperature, "pressure_gpa": pressure, "isotope": isotope, "beads": beads,
            "classification": classification}


def test_a_statement_is_checked_against_the_runs_it_covers():
    cubic_above = Expectation(statement="cubic above 150", temperature_k=300, pressures_gpa=(150, 220),
                              expected="cubic")
    runs = [_row(120, "rhombohedral"), _row(150, "cubic"), _row(220, "cubic"), _row(150, "rhombohedral", beads=4)]
    check = check_expectation(cubic_above, runs)
    assert check["verdict"] == "agrees" and check["n_runs"] == 2  # 120 GPa and the 4-bead run are not covered
    assert check["found"] == "150 GPa cubic, 220 GPa cubic"
    assert check_expectation(cubic_above, runs + [_row(185, "monoclinic")])["verdict"] == "disagrees"
    assert check_expectation(cubic_above, [_row(150, "undetermined")])["verdict"] == "undetermined"
    assert check_expectation(cubic_above, [_row(120, "cubic")])["verdict"] == "not run"
    distorted = Expectation(statement="D distorted", temperature_k=300, isotope="D", quantum=True,
                            pressures_gpa=(80, 100), expected="not cubic")
    assert check_expectation(distorted, [_row(100, "rhombohedral", beads=4, isotope="D"),
                                         _row(100, "cubic", beads=4)])["verdict"] == "agrees"
    with pytest.raises(ValueError, match="give \\[low, high\\]"):
        Expectation(statement="s", temperature_k=300, pressures_gpa=(220, 150), expected="cubic")
    with pytest.raises(ValueError, match="contradicts quantum"):
        Expectation(statement="s", temperature_k=300, beads=4, pressures_gpa=(100, 150), expected="cubic")


def test_the_shipped_paper_study(published, gle_library):
    """lah10-paper: N = 352, the figures' 21 points, PIGLET at the bead counts 'md beads' advises for its highest
    frequency, and every statement about points the grid has."""
    config, _ = load_config("lah10-paper")
    runs = config.runs()
    assert len(runs) == 21 and config.structure.build("H").get_global_number_of_atoms() == 352
    beads = {(r.temperature_k, r.beads) for r in runs if r.beads > 1}
    for temperature, count in beads:
        advice = recommend_beads(temperature, config.md.max_frequency_cm1, "piglet", 0.01, gle_library)
        assert advice["beads"] == count, (temperature, count, advice)
    points = [{"temperature_k": r.temperature_k, "pressure_gpa": r.pressure_gpa, "isotope": r.isotope,
               "beads": r.beads} for r in runs]
    for expectation in config.analysis.expectations:
        assert any(expectation.covers(p) for p in points), expectation.statement
    with pytest.raises(InputError, match="shipped study \\(demo, lah10-paper\\)"):
        load_config("lah10-papr")
