"""How many beads: the path-integral convergence of a harmonic mode under each sampling scheme, and the
smallest bead count that converges every mode up to a system's highest vibrational frequency.

The measure is the centroid-virial kinetic energy of one harmonic mode of frequency omega at temperature T
(hbar = k_B = 1, energies and frequencies in kelvin), sampled by a P-bead ring polymer whose internal normal
modes k = 1..P-1 have spring frequencies omega_k:

    K_cv = T/2 + omega^2 / (2P) sum_k <q_k^2>,      exact: K = (omega/4) coth(omega / 2T)

(mass-weighted, orthonormal normal modes; i-PI samples the ring polymer at P T).  ``<q_k^2>``:

* ``pile``: canonical at P T, P T / (omega^2 + omega_k^2) with Trotter springs omega_k = 2 P T sin(k pi / P);
* ``eco``: the same with i-PI's economised springs (Zeng and Manolopoulos, arXiv:2607.06414), fitted up to
  the run's ``max_frequency_cm1``;
* ``piglet``: the stationary covariance of the mode under its generalised Langevin equation (Ceriotti and
  Manolopoulos, PRL 109, 100604 (2012)): the Lyapunov equation M S + S M^T = D of the linear system
  (q, p, s_1..s_n) with drift M = [[0, -1, 0], [Omega^2, A_pp, A_ps], [0, A_sp, A_ss]] and diffusion
  D = A C + C A^T on the momenta (Ceriotti, Bussi and Parrinello, JCTC 6, 1170 (2010), eq. 6), using the very
  matrices a run would get (:mod:`hydropimd.md.piglet`).

A system's kinetic energy sums such modes below its highest frequency, so the largest relative error over
(0, omega_max] bounds the harmonic part of the error of the total: :func:`recommend_beads` returns the smallest
P that keeps it within a tolerance.  For PILE and eco that is the whole criterion (anharmonicity can only ask
for more).  PIGLET is exact for harmonic modes at any P by construction (the error above is only its fit's),
so its P is set by anharmonicity instead: the rule hbar omega_max / (P kT) <= 3 of its validation (liquid water
at 300 K, hbar omega_max / kT ~ 18, converged with P = 6: Ceriotti and Manolopoulos 2012), which
``bench/beads.py`` tests for the hydride at hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hydropimd.errors import InputError
from hydropimd.md.piglet import ATOMIC_FREQUENCY, CM1_TO_KELVIN, KB_OVER_HBAR, bead_counts, choose_range, \
    piglet_matrices

SCHEMES = ("pile", "eco", "piglet")
#: bead counts tried for PILE and eco (any P runs; even counts keep i-PI's FFT and the bead groups balanced)
CANDIDATE_BEADS = tuple(range(2, 17, 2)) + tuple(range(20, 65, 4)) + tuple(range(72, 257, 8))
#: the most beads advised for PILE and eco: a P-bead run costs P force calls per step (256 beads of the study's
#: 2816-atom cell: ~720 000 atom evaluations a step), and i-PI's eco fit alone takes seconds to a minute per count at
#: this size; conditions that need more are refused with the count they would need (:func:`least_beads`)
MAX_BEADS = CANDIDATE_BEADS[-1]
#: PIGLET's anharmonic rule: at most this hbar omega_max / kT per bead (module docstring)
PIGLET_MAX_X_PER_BEAD = 3.0
#: frequencies at which the error is evaluated, as fractions of the highest (the error vanishes as omega -> 0)
FREQUENCY_FRACTIONS = np.linspace(0.05, 1.0, 40)


def quantum_kinetic_energy(omega: float, temperature_k: float) -> float:
    """Exact kinetic energy of a quantum harmonic mode, (hbar omega / 4) coth(hbar omega / 2 kT); ``omega`` is
    hbar omega / k_B and the result k_B times it, both in kelvin."""
    return omega / 4 / np.tanh(omega / (2 * temperature_k))


def _trotter_springs(beads: int, temperature_k: float) -> np.ndarray:
    from ipi.utils.nmtransform import nm_eva

    # i-PI's own free ring-polymer frequencies, omega_k / omega_n = 2 sin(k pi / P), omega_n = P kT / hbar
    return beads * temperature_k * nm_eva(beads)[1:]


def _eco_springs(beads: int, temperature_k: float, max_frequency_k: float) -> np.ndarray:
    from ipi.utils.nmtransform import eco_eva

    # i-PI's own fit (normalmodes.get_omegak): omega_k / omega_n at x_max = hbar omega_max / kT
    return beads * temperature_k * eco_eva(beads, max_frequency_k / temperature_k)[1:]


def gle_position_variance(omega: float, a: np.ndarray, c: np.ndarray) -> float:
    """<q^2> of a unit-mass harmonic oscillator of frequency ``omega`` under the GLE with drift ``a`` and
    temperature matrix ``c`` (same units: frequencies and kelvin), from the stationary Lyapunov equation."""
    from scipy.linalg import solve_continuous_lyapunov

    n = len(a)
    drift = np.zeros((n + 1, n + 1))
    drift[0, 1] = -1.0
    drift[1, 0] = omega**2
    drift[1:, 1:] = a
    diffusion = np.zeros_like(drift)
    diffusion[1:, 1:] = a @ c + c @ a.T
    return float(solve_continuous_lyapunov(drift, diffusion)[0, 0])


def kinetic_energy_ratio(scheme: str, beads: int, temperature_k: float, frequencies_cm1, max_frequency_cm1: float,
                         library: Path | None = None) -> np.ndarray:
    """K_cv / K_exact (module docstring) for harmonic modes at ``frequencies_cm1`` under ``scheme`` with ``beads``
    beads at ``temperature_k``; ``max_frequency_cm1`` sets eco's fit and PIGLET's fitted range as a run's would."""
    t = temperature_k
    omegas = CM1_TO_KELVIN * np.atleast_1d(np.asarray(frequencies_cm1, dtype=float))
    if scheme == "piglet":
        fitted = choose_range(library, beads, t, max_frequency_cm1)
        a, c = piglet_matrices(library, beads, t, fitted)
        a = a * ATOMIC_FREQUENCY / KB_OVER_HBAR  # atomic units -> kelvin
        springs = _trotter_springs(beads, t)
        variances = np.array([[gle_position_variance(np.hypot(w, springs[k]), a[k + 1], c[k + 1])
                               for k in range(beads - 1)] for w in omegas])
    else:
        springs = (_eco_springs(beads, t, CM1_TO_KELVIN * max_frequency_cm1) if scheme == "eco"
                   else _trotter_springs(beads, t))
        variances = beads * t / (omegas[:, None] ** 2 + springs[None, :] ** 2)
    kinetic = t / 2 + omegas**2 / (2 * beads) * variances.sum(axis=1)
    return kinetic / quantum_kinetic_energy(omegas, t)


def worst_error(scheme: str, beads: int, temperature_k: float, max_frequency_cm1: float,
                library: Path | None = None) -> tuple[float, float]:
    """(largest |K_cv / K_exact - 1| over harmonic modes up to ``max_frequency_cm1``, the frequency in cm^-1 where
    it occurs)."""
    frequencies = FREQUENCY_FRACTIONS * max_frequency_cm1
    errors = np.abs(kinetic_energy_ratio(scheme, beads, temperature_k, frequencies, max_frequency_cm1, library) - 1)
    k = int(np.argmax(errors))
    return float(errors[k]), float(frequencies[k])


def least_beads(scheme: str, temperature_k: float, max_frequency_cm1: float, tolerance: float) -> int:
    """A lower bound on the beads ``scheme`` needs at ``temperature_k`` (K) up to ``max_frequency_cm1`` (cm^-1), found
    without sampling.  PILE and eco, whatever their springs: each of the P - 1 terms of K_cv (module docstring) is
    below one, so K_cv < P T / 2, while K >= (1 - tolerance) K_exact needs P > (1 - tolerance) (x/2) coth(x/2),
    x = hbar omega_max / kT (the ring polymer at P T must hold the zero-point kinetic energy).  PIGLET: its rule,
    P >= x / PIGLET_MAX_X_PER_BEAD."""
    x = CM1_TO_KELVIN * max_frequency_cm1 / temperature_k
    if scheme == "piglet":
        return int(np.ceil(x / PIGLET_MAX_X_PER_BEAD))
    return int(np.floor((1 - tolerance) * x / 2 / np.tanh(x / 2))) + 1


def _candidates(scheme: str, library: Path | None, temperature_k: float, max_frequency_cm1: float) -> list[int]:
    if scheme != "piglet":
        return list(CANDIDATE_BEADS)
    usable = []
    needed = CM1_TO_KELVIN * max_frequency_cm1 / temperature_k / PIGLET_MAX_X_PER_BEAD
    for beads in (b for b in bead_counts(library) if b >= needed):
        try:
            choose_range(library, beads, temperature_k, max_frequency_cm1)
        except InputError:
            continue
        usable.append(beads)
    return usable


def recommend_beads(temperature_k: float, max_frequency_cm1: float, scheme: str = "piglet",
                    tolerance: float = 0.01, library: Path | None = None) -> dict:
    """The smallest bead count whose worst harmonic kinetic-energy error up to ``max_frequency_cm1`` (cm^-1) at
    ``temperature_k`` (K) is within ``tolerance`` (relative), with the errors of the counts tried before it.
    ``library``: the GLE4MD library (PIGLET only)."""
    if scheme not in SCHEMES:
        raise InputError(f"sampling '{scheme}' is not one of {', '.join(SCHEMES)}")
    if not (temperature_k > 0 and max_frequency_cm1 > 0 and 0 < tolerance < 1):
        raise InputError("give a positive temperature and frequency and a tolerance between 0 and 1 (0.01 = 1 %)")
    least = least_beads(scheme, temperature_k, max_frequency_cm1, tolerance)
    candidates = _candidates(scheme, library, temperature_k, max_frequency_cm1)

    def error_of(beads: int) -> dict:
        error, at = worst_error(scheme, beads, temperature_k, max_frequency_cm1, library)
        return {"beads": beads, "worst_error": error, "at_frequency_cm1": at}

    tried = _smallest_within([b for b in candidates if b >= least], error_of, tolerance, monotone=scheme != "piglet")
    found = tried[-1] if tried and tried[-1]["worst_error"] <= tolerance else None
    return {"scheme": scheme, "temperature_k": temperature_k, "max_frequency_cm1": max_frequency_cm1,
            "hbar_omega_over_kt": CM1_TO_KELVIN * max_frequency_cm1 / temperature_k, "tolerance": tolerance,
            "rule": ("harmonic kinetic energy within tolerance up to max_frequency_cm1" if scheme != "piglet" else
                     f"hbar omega_max / (P kT) <= {PIGLET_MAX_X_PER_BEAD:g} and a fit covering max_frequency_cm1"),
            "beads": None if found is None else found["beads"],
            "worst_error": None if found is None else found["worst_error"], "tried": tried,
            "least_beads": least, "most_beads": max(candidates, default=None)}


def _smallest_within(candidates: list[int], error_of, tolerance: float, monotone: bool) -> list[dict]:
    """The errors (``error_of``) of the counts evaluated to find the smallest of ``candidates`` within ``tolerance``,
    ascending, ending at it when there is one.  ``monotone`` (the error falls as P grows, as it does with Trotter and
    eco springs): P grown by a quarter from the first count until one passes (or the last fails), then bisection
    between the last failing count and it.  Else one by one."""
    # a quarter: a few evaluations across the candidates, none far above the answer, where eco's fit is slowest
    # (its many springs then fit an easy target in a flat valley: 17 s at 256 beads for 2200 cm^-1 at 300 K)
    growth = 1.25
    evaluated = {}

    def passes(i: int) -> bool:
        if i not in evaluated:
            evaluated[i] = error_of(candidates[i])
        return evaluated[i]["worst_error"] <= tolerance

    if not monotone:
        next((i for i in range(len(candidates)) if passes(i)), None)
    elif candidates:
        low, high = -1, 0  # indices: low fails (-1: none evaluated), high is probed next
        while not passes(high) and high < len(candidates) - 1:
            low = high
            high = next((j for j, b in enumerate(candidates) if b >= growth * candidates[low]), len(candidates) - 1)
        while passes(high) and high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if passes(middle) else (middle, high)
    tried = [evaluated[i] for i in sorted(evaluated)]
    first = next((k for k, t in enumerate(tried) if t["worst_error"] <= tolerance), len(tried) - 1)
    return tried[:first + 1]


def max_frequency_from_phonons(path) -> float:
    """The highest harmonic frequency, cm^-1, of an ``analyze phonons --json`` result saved in ``path``."""
    import json

    try:
        value = json.loads(Path(path).read_text())["max_frequency_cm1"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path} is not the JSON of 'hydropimd analyze phonons --json' ({type(err).__name__}: "
                         f"{err}); save that command's output, or give --max-frequency-cm1") from None
    if not isinstance(value, (int, float)) or not value > 0:
        raise InputError(f"{path}: max_frequency_cm1 is {value!r}; give --max-frequency-cm1")
    return float(value)


def bead_advice(temperature_k: float, max_frequency_cm1: float | None = None, phonons=None,
                schemes=SCHEMES, tolerance: float = 0.01, gle_library=None) -> dict:
    """``hydropimd md beads``: :func:`recommend_beads` for each scheme, the highest frequency given (cm^-1) or
    read from a saved ``analyze phonons --json`` result; ``gle_library`` by the data-location rule (PIGLET)."""
    if max_frequency_cm1 is not None and phonons is not None:
        raise InputError("--max-frequency-cm1 and --phonons both give the highest frequency: give only one of them")
    if max_frequency_cm1 is None and phonons is None:
        raise InputError("give the highest vibrational frequency: --max-frequency-cm1 F or --phonons FILE")
    if phonons is not None:
        max_frequency_cm1 = max_frequency_from_phonons(phonons)
    library = None
    if "piglet" in schemes:
        from hydropimd.data.location import gle4md_root

        library = gle4md_root(gle_library, fetch=True)
    advice = [recommend_beads(temperature_k, max_frequency_cm1, s, tolerance, library) for s in schemes]
    if all(a["beads"] is None for a in advice):
        _refuse_out_of_reach(advice)
    return {"temperature_k": temperature_k, "max_frequency_cm1": max_frequency_cm1, "tolerance": tolerance,
            "source": "given" if phonons is None else str(phonons), "schemes": advice}


def _refuse_out_of_reach(advice: list[dict]) -> None:
    """Refuse conditions no requested scheme converges with the beads it is advised up to, naming what each needs."""
    first = advice[0]
    needs = ", ".join(f"{a['scheme']} at least {a['least_beads']}" if not a["tried"] else
                      f"{a['scheme']} more than {a['most_beads']}" for a in advice)
    others = "" if len(advice) == len(SCHEMES) else ", or try --sampling all"
    raise InputError(f"at {first['temperature_k']:g} K up to {first['max_frequency_cm1']:g} cm^-1 (hbar omega / kT = "
                     f"{first['hbar_omega_over_kt']:.3g}) no scheme asked for converges within "
                     f"{100 * first['tolerance']:g} % with the beads advised ({MAX_BEADS} at most for pile and eco): "
                     f"{needs} beads; check --temperature-k (kelvin) and --max-frequency-cm1 (cm^-1){others}")
