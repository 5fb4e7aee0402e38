"""hydropimd's potential as an i-PI ``custom`` PES for ``<ffdirect>`` (in-process forces).

i-PI loads this file by path (``<pes>custom</pes><pes_path>...</pes_path>``)
and builds :class:`HydropimdDriver` from the ``<parameters>`` dictionary.  With
``<batch_size>`` equal to the number of beads, i-PI hands all beads of a step
to :meth:`HydropimdDriver.compute` at once (i-PI's stock ASE driver would
evaluate them one by one).  The beads are split into groups evaluated
concurrently, each group by its own single-threaded model session, so that a
machine's cores are all busy even when one DeePMD-kit call cannot use more than
one (measured on 2 cores: 55 ms per 352-atom frame with 1 thread, 53 ms with 2).

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

from hydropimd.errors import InputError

__DRIVER_NAME__ = "hydropimd"
__DRIVER_CLASS__ = "HydropimdDriver"

#: a run stops when its cell volume leaves this range around the volume where it started (or resumed)
VOLUME_RATIO_LIMITS = (0.5, 2.0)

_ANGSTROM_PER_BOHR = unit_to_user("length", "angstrom", 1.0)
_HARTREE_PER_EV = unit_to_internal("energy", "electronvolt", 1.0)
_FORCE_AU_PER_EV_ANGSTROM = unit_to_internal("force", "ev/ang", 1.0)


class HydropimdDriver(Dummy_driver):
    """Batched, bead-parallel evaluation of :class:`hydropimd.potential.HydridePotential` for i-PI.

    Parameters (strings, from i-PI's ``<parameters>``): ``model``, ``template``
    (a structure file giving the element of every atom, in order), optional
    ``pair`` (table file), ``committee`` (extra models separated by ``;``),
    ``groups`` (number of bead groups evaluated concurrently, default: the
    cores available).
    """

    def __init__(self, model, template, pair="", committee="", groups=0, verbose=False, **kwargs):
        from ase.io import read

        self.model = model
        self.pair = pair or None
        self.symbols = read(template).get_chemical_symbols()
        self.committee = [c for c in str(committee).split(";") if c]
        self.groups = int(groups) or len(os.sched_getaffinity(0))
        super().__init__(verbose=verbose)

    def check_parameters(self):
        # one model session per group, each single-threaded: parallelism comes from the groups
        os.environ["DP_INTRA_OP_PARALLELISM_THREADS"] = "1"
        os.environ["DP_INTER_OP_PARALLELISM_THREADS"] = str(self.groups)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        from hydropimd.pair.baseline import PairBaseline
        from hydropimd.potential.calculator import HydridePotential

        pair = PairBaseline.from_file(self.pair) if self.pair else None  # tables are shared read-only
        self.sessions = [HydridePotential(self.model, pair=pair, committee=self.committee) for _ in range(self.groups)]
        self.pool = ThreadPoolExecutor(max_workers=self.groups) if self.groups > 1 else None
        self.reference_volume = None  # angstrom^3, of the first structure evaluated
        self.monitor_next = False  # set by the MD runner before a step whose committee deviation is wanted
        self.last_max_force_dev = None
        self.force_seconds = 0.0

    def _check_volume(self, cells) -> None:
        """Stop a collapsing or exploding cell before the model sees it (an absurd cell crashes DeePMD-kit's kernels;
        the runner's per-stride check would come too late)."""
        volumes = np.abs(np.linalg.det(cells))
        if not np.isfinite(volumes).all():
            raise InputError("the cell became NaN or infinite")
        if self.reference_volume is None:
            self.reference_volume = float(volumes[0])
        ratio = volumes / self.reference_volume
        low, high = VOLUME_RATIO_LIMITS
        if ratio.min() <= low or ratio.max() >= high:
            what = "collapsed" if ratio.min() <= low else "exploded"
            worst = ratio.min() if what == "collapsed" else ratio.max()
            raise InputError(f"the cell {what} (volume {worst:.2f} x its starting {self.reference_volume:.1f} A^3)")

    def _evaluate(self, session, coords, cells, committee):
        return session.evaluate(coords, cells, self.symbols, committee=committee)

    def compute(self, cell, pos):
        """i-PI entry point: one structure (arrays) or a batch (lists of arrays), atomic units."""
        batched = isinstance(cell, list)
        cells = np.array(cell if batched else [cell]) * _ANGSTROM_PER_BOHR
        coords = np.array(pos if batched else [pos]).reshape(len(cells), -1, 3) * _ANGSTROM_PER_BOHR
        cells = np.transpose(cells, (0, 2, 1))  # i-PI: lattice vectors are columns; hydropimd: rows
        self._check_volume(cells)
        monitor = self.monitor_next and bool(self.committee)
        self.monitor_next = False
        start = time.perf_counter()
        chunks = [c for c in np.array_split(np.arange(len(cells)), min(self.groups, len(cells)))]
        if self.pool is None or len(chunks) == 1:
            parts = [self._evaluate(self.sessions[0], coords, cells, monitor)]
        else:
            futures = [self.pool.submit(self._evaluate, self.sessions[k], coords[idx], cells[idx], monitor)
                       for k, idx in enumerate(chunks)]
            parts = [f.result() for f in futures]
        self.force_seconds += time.perf_counter() - start
        energy = np.concatenate([p.energy for p in parts])
        forces = np.concatenate([p.forces for p in parts])
        virial = np.concatenate([p.virial for p in parts])
        if monitor:
            self.last_max_force_dev = float(max(p.max_force_dev.max() for p in parts))
        results = []
        for k in range(len(cells)):
            # i-PI's virial convention is the transpose of the row-vector one (as in its ASE driver)
            results.append((energy[k] * _HARTREE_PER_EV, forces[k].reshape(-1) * _FORCE_AU_PER_EV_ANGSTROM,
                            virial[k].T * _HARTREE_PER_EV, json.dumps({})))
        return results if batched else results[0]
