"""Shuttling between cubic and rhombohedral variants: fraction distorted, variants, switch counts, aligned means."""

import numpy as np
import pytest

from hydropimd.analysis import cell_shape
from hydropimd.lattice import metric_from_cells
from hydropimd.analysis.shuttling import align_to_variant, describe_variant, detect_shuttling, variant_operation
from tests.analysis.synthetic import ar1, simulation_cells

DT_PS = 0.01


def piecewise(rng, states, frames_each=600, sigma=0.4, phi=0.7):
    """Angles that sit in each state of ``states`` (angle triples) for ``frames_each`` frames, plus AR(1) noise."""
    angles = np.repeat(np.array(states, dtype=float), frames_each, axis=0)
    angles += ar1(rng, len(angles), sigma, phi, (3,))
    lengths = 5.1 + ar1(rng, len(angles), 0.004, phi, (3,))
    return lengths, angles


CUBIC, PPP, PMM, MPM = (90, 90, 90), (94, 94, 94), (94, 86, 86), (86, 94, 86)


def test_switches_variants_and_fraction(rng):
    lengths, angles = piecewise(rng, [CUBIC, PPP, CUBIC, PMM, MPM, CUBIC])
    cells = simulation_cells(lengths, angles, "conventional", 2, rotate=True)
    report = cell_shape(metric_from_cells(cells), np.arange(len(cells)) * DT_PS, 32)
    shuttling = report["shuttling"]
    assert shuttling["is_shuttling"]
    assert shuttling["n_switches"] == 5
    assert shuttling["n_cubic_distorted_switches"] == 4
    assert shuttling["n_variant_switches"] == 1
    assert {v["variant"] for v in shuttling["variants_visited"]} == {"+++", "+--", "-+-"}
    assert shuttling["fraction_distorted"] == pytest.approx(0.5, abs=0.02)
    assert "smoothed" in shuttling["criterion"] and "1 deg" in shuttling["criterion"]
    # Half the time rhombohedral: the class of the majority state, the distorted state classified on its own.
    assert report["distorted_state"]["classification"] == "rhombohedral"
    np.testing.assert_allclose(report["distorted_state"]["angles_deg"], 94, atol=0.3)
    assert any("meaningless" in note for note in report["notes"])


def test_switching_between_variants_only_is_rhombohedral_with_aligned_angles(rng):
    lengths, angles = piecewise(rng, [PPP, PMM, PPP, MPM, PPP, PMM], frames_each=500)
    report = cell_shape(metric_from_cells(simulation_cells(lengths, angles, "primitive", 3, rotate=True)),
                        np.arange(len(angles)) * DT_PS, 27)
    assert report["shuttling"]["n_variant_switches"] == 5 and report["shuttling"]["fraction_distorted"] == 1.0
    assert report["classification"] == "rhombohedral"
    assert report["angles_aligned_to_variant"] == "+++"
    np.testing.assert_allclose(report["angles_deg"], 94, atol=0.1)
    # Raw means mix variants: beta and gamma average to 90 + 4/3 and 90 - 4/3 ... not 94.
    assert min(report["raw_angles_deg"]) < 92


def test_thermal_noise_alone_does_not_switch(rng):
    lengths, angles = piecewise(rng, [CUBIC], frames_each=5000, sigma=0.5)
    report = cell_shape(metric_from_cells(simulation_cells(lengths, angles)), np.arange(5000) * DT_PS, 32)
    assert report["shuttling"]["n_switches"] == 0 and report["shuttling"]["fraction_distorted"] == 0.0
    assert report["classification"] == "cubic"


def test_labels_follow_the_smoothed_signs(rng):
    _, angles = piecewise(rng, [CUBIC, PMM, CUBIC], frames_each=300, sigma=0.2)
    result = detect_shuttling(np.arange(len(angles)) * DT_PS, angles - 90, threshold_deg=1.0, smooth_ps=0.2)
    segments = result.segments(np.arange(len(angles)) * DT_PS)
    assert [s["label"] for s in segments] == ["cubic", "+--", "cubic"]
    assert abs(segments[1]["frames"] - 300) < 20


def test_variant_words_and_operations():
    assert describe_variant("+++") == "rhombohedral, compressed along [111]"
    assert describe_variant("+--") == "rhombohedral, compressed along [1-1-1]"
    assert describe_variant("---") == "rhombohedral, elongated along [111]"
    assert variant_operation("---", "+++") is None  # opposite senses are different structures
    perm, flips = variant_operation("-+-", "+++")
    np.testing.assert_array_equal(flips * np.array([-1.0, 1.0, -1.0])[perm], [1, 1, 1])
    lengths = np.array([[5.0, 5.1, 5.2], [5.0, 5.1, 5.2]])
    deviations = np.array([[4.0, 4.0, 4.0], [-4.0, 4.0, -4.0]])
    _, aligned, reference, unaligned = align_to_variant(lengths, deviations, np.array(["+++", "-+-"]), "+++")
    np.testing.assert_array_equal(aligned, 4.0)
    assert reference == "+++" and unaligned == []
