"""hydropimd's potential as an i-PI ``custom`` PES for ``<ffdirect>`` (in-process forces).

i-PI loads this file by path (``<pes>custom</pes><pes_path>...</pes_path>``)
and builds :class:`HydropimdDriver` from the ``<parameters>`` dictionary.  With
``<batch_size>`` equal to the number of beads, i-PI hands all beads of a step
to :meth:`HydropimdDriver.compute` at once (i-PI's stock ASE driver would
evaluate them one by one).  The beads are split into groups evaluated
concurrently, each group by its own model session, so that a machine's cores
are all busy even when one DeePMD-kit call cannot use more than one (measured
on 2 cores: 55 ms per 352-atom frame with 1 thread, 53 ms with 2).  On a GPU (a
PyTorch-backend model where torch sees one) all beads go in one call instead.  The sessions
are single-threaded when the process was started so (``hydropimd.md.worker``
sets DeePMD-kit's thread variables for the process it starts); this module
never changes the process's environment.

What the driver tells the runner goes through the slot i-PI provides for it,
the JSON "extras" string of each result: ``force_seconds_total``, the wall time
this driver has spent in force evaluations since it was built (s).

Units at this boundary: i-PI passes positions and the cell matrix (columns are
lattice vectors) in bohr and expects hartree, hartree/bohr and a virial in
hartree; hydropimd works in angstrom and eV.  Conversions use i-PI's own
constants (:mod:`ipi.utils.units`).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ipi.pes.dummy import Dummy_driver
from ipi.utils.units import unit_to_internal, unit_to_user

from hydropimd.md.guard import check_configurations

__DRIVER_NAME__ = "hydropimd"
__DRIVER_CLASS__ = "HydropimdDriver"

_ANGSTROM_PER_BOHR = unit_to_user("length", "angstrom", 1.0)
_HARTREE_PER_EV = unit_to_internal("energy", "electronvolt", 1.0)
_FORCE_AU_PER_EV_ANGSTROM = unit_to_internal("force", "ev/ang", 1.0)
#: the key of the driver's cumulative force time in each result's extras
FORCE_SECONDS_KEY = "force_seconds_total"


class HydropimdDriver(Dummy_driver):
    """Batched, bead-parallel evaluation of :class:`hydropimd.potential.HydridePotential` for i-PI.

    Parameters (strings, from i-PI's ``<parameters>``): ``model``, ``template``
    (a structure file giving the element of every atom, in order), optional
    ``pair`` (table file), ``groups`` (number of bead groups evaluated
    concurrently, default: the cores available), ``reference_volume_a3`` (the
    run's reference volume for :mod:`hydropimd.md.guard`; default: the template's).
    """

    def __init__(self, model, template, pair="", groups=0, reference_volume_a3=0, verbose=False, **kwargs):
        from ase.io import read

        start = read(template)
        self.model = model
        self.pair = pair or None
        self.symbols = start.get_chemical_symbols()
        self.groups = int(groups) or len(os.sched_getaffinity(0))
        self.reference_volume_a3 = float(reference_volume_a3) or float(start.get_volume())
        super().__init__(verbose=verbose)

    def check_parameters(self):
        from hydropimd.pair.baseline import PairBaseline
        from hydropimd.potential.calculator import HydridePotential

        pair = PairBaseline.from_file(self.pair) if self.pair else None  # tables are shared read-only
        self.sessions = [HydridePotential(self.model, pair=pair)]
        if self.sessions[0].device != "cpu":  # on a GPU: all beads in one DeePMD-kit call, whatever was asked
            self.groups = 1
        self.sessions += [HydridePotential(self.model, pair=pair) for _ in range(self.groups - 1)]
        self.pool = ThreadPoolExecutor(max_workers=self.groups) if self.groups > 1 else None
        self.force_seconds = 0.0

    def _evaluate_groups(self, coords: np.ndarray, cells: np.ndarray):
        """Energies, forces and virials (eV, eV/A, eV) of all frames, the bead groups evaluated concurrently."""
        chunks = np.array_split(np.arange(len(cells)), min(self.groups, len(cells)))
        if self.pool is None or len(chunks) == 1:
            parts = [self.sessions[0].evaluate(coords, cells, self.symbols, committee=False)]
        else:
            futures = [self.pool.submit(self.sessions[k].evaluate, coords[idx], cells[idx], self.symbols, False)
                       for k, idx in enumerate(chunks)]
            parts = [f.result() for f in futures]
        return (np.concatenate([p.energy for p in parts]), np.concatenate([p.forces for p in parts]),
                np.concatenate([p.virial for p in parts]))

    def compute(self, cell, pos):
        """i-PI entry point: one structure (arrays) or a batch (lists of arrays), atomic units."""
        batched = isinstance(cell, list)
        cells = np.array(cell if batched else [cell]) * _ANGSTROM_PER_BOHR
        coords = np.array(pos if batched else [pos]).reshape(len(cells), -1, 3) * _ANGSTROM_PER_BOHR
        cells = np.transpose(cells, (0, 2, 1))  # i-PI: lattice vectors are columns; hydropimd: rows
        check_configurations(cells, self.reference_volume_a3, coords)
        start = time.perf_counter()
        energy, forces, virial = self._evaluate_groups(coords, cells)
        self.force_seconds += time.perf_counter() - start
        extras = json.dumps({FORCE_SECONDS_KEY: self.force_seconds})
        # i-PI's virial convention is the transpose of the row-vector one (as in its ASE driver)
        results = [(energy[k] * _HARTREE_PER_EV, forces[k].reshape(-1) * _FORCE_AU_PER_EV_ANGSTROM,
                    virial[k].T * _HARTREE_PER_EV, extras) for k in range(len(cells))]
        return results if batched else results[0]
