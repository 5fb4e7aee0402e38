"""One potential for everything: a Deep Potential plus an optional pair baseline.

U(R) = f(R) + g(R) (docs/theory/potential.md): g is a DeePMD-kit model evaluated with
DeePMD-kit's ``DeepPot``, f the tabulated pair baseline of
:mod:`hydropimd.pair.baseline`.  :class:`HydridePotential` evaluates batches of
same-composition frames in one model call (path-integral MD passes all beads at
once) and is also an ASE calculator for single structures.

With a committee (extra models), it also returns the model deviation of docs/theory/potential.md,
E = max_i sqrt(<|F_i - <F_i>|^2>) over the committee, computed by DeePMD-kit's ``calc_model_devi_f``
(the ``max_devi_f`` of ``dp model-devi``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not our users' business

import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from hydropimd.errors import InputError
from hydropimd.native import captured_native_stderr
from hydropimd.pair.baseline import PairBaseline
from hydropimd.potential.models import is_pytorch_model, resolve_model


@dataclass
class Evaluation:
    """Energies (nf,) eV, forces (nf, N, 3) eV/A, virials (nf, 3, 3) eV (stress = -virial / volume),
    and with a committee the maximal force deviation per frame (nf,) eV/A."""

    energy: np.ndarray
    forces: np.ndarray
    virial: np.ndarray
    max_force_dev: np.ndarray | None = None


def _load_deeppot(path: str | os.PathLike, atoms_per_call: int | bool):
    resolved = str(resolve_model(path))
    with captured_native_stderr():
        from deepmd.infer import DeepPot  # imported lazily: TensorFlow takes seconds to start

        try:
            model = DeepPot(resolved, auto_batch_size=atoms_per_call)
            # the first run compiles the graph (and prints MLIR notices): do it here, once
            model.eval(np.zeros((1, 3)), np.eye(3).reshape(1, 9) * 10.0, np.zeros(1, dtype=np.int32))
        except Exception as err:  # DeePMD-kit raises bare exceptions for files it cannot load
            raise InputError(f"DeePMD-kit cannot load model {path}: {str(err).splitlines()[0]}") from None
    return model


class HydridePotential(Calculator):
    """DeePMD model + optional pair baseline (+ optional committee), batched.

    Parameters
    ----------
    model : path of a DeePMD-kit model: a frozen TensorFlow graph (1.x graphs are upgraded automatically) or a
        PyTorch-backend ``.pth`` (on a GPU when torch sees one).
    pair : a :class:`PairBaseline`, a table file path (published LaH10 sections and cutoffs), or None.
    committee : paths of further models; the deviation is taken over ``model`` and these.
    atoms_per_call : how many atoms (frames x atoms) DeePMD-kit evaluates per call at first; larger batches
        are split.  The default is DeePMD-kit's (1024); on a GPU DeePMD-kit doubles it while memory allows
        (``deepmd.utils.batch_size.AutoBatchSize``), so all beads go through in as few calls as fit.
    """

    #: max_force_dev: the committee's largest force deviation, eV/A (with ``committee`` models)
    implemented_properties = ["energy", "free_energy", "forces", "stress", "max_force_dev"]

    def __init__(self, model, pair=None, committee=(), atoms_per_call: int = 1024, **kwargs):
        super().__init__(**kwargs)
        self.model_path = Path(model)
        self.models = [_load_deeppot(m, atoms_per_call) for m in (model, *committee)]
        self.type_map = list(self.models[0].get_type_map())
        for path, other in zip(committee, self.models[1:]):
            if list(other.get_type_map()) != self.type_map:
                raise InputError(f"committee model {path} has type map {other.get_type_map()}, not {self.type_map}")
        if isinstance(pair, (str, os.PathLike)):
            pair = PairBaseline.from_file(pair)
        self.pair = pair
        self._types_cache: dict[tuple[str, ...], np.ndarray] = {}

    @property
    def cutoff(self) -> float:
        return float(self.models[0].get_rcut())

    @property
    def device(self) -> str:
        """Where the model runs: "cuda" for a PyTorch model on a machine whose torch sees a GPU, else "cpu"
        (DeePMD-kit's PyTorch backend takes the GPU by itself, ``deepmd.pt.utils.env.DEVICE``; the TensorFlow
        backend installed here is CPU-only)."""
        if not is_pytorch_model(self.model_path):
            return "cpu"
        from deepmd.pt.utils.env import DEVICE

        return DEVICE.type

    def atom_types(self, symbols) -> np.ndarray:
        key = tuple(symbols)
        if key not in self._types_cache:
            unknown = sorted(set(key) - set(self.type_map))
            if unknown:
                raise InputError(f"elements {', '.join(unknown)} are not in the model's type map {self.type_map}")
            self._types_cache[key] = np.array([self.type_map.index(s) for s in key], dtype=np.int32)
        return self._types_cache[key]

    def evaluate(self, coords, cells, symbols, committee: bool = True) -> Evaluation:
        """Evaluate frames of one composition: coords (nf, N, 3) A, cells (nf, 3, 3) A (rows = lattice vectors).

        With ``committee=False`` only the main model runs (no deviation), for
        steps where the deviation is not monitored.
        """
        coords = np.asarray(coords, dtype=float)
        cells = np.asarray(cells, dtype=float).reshape(-1, 3, 3)
        nf = len(cells)
        coords = coords.reshape(nf, -1, 3)
        types = self.atom_types(symbols)
        # DeePMD-kit's kernels return numbers for NaN positions and degenerate cells, and crash the process
        # (SIGFPE, std::length_error) on NaN or absurd cells: refuse them here, in one line
        if not (np.isfinite(coords).all() and np.isfinite(cells).all()):
            raise InputError("positions or cell are NaN or infinite (a structure, or a simulation, that blew up)")
        if (np.abs(np.linalg.det(cells)) <= 1e-6 * np.prod(np.linalg.norm(cells, axis=2), axis=1)).any():
            raise InputError("the cell is degenerate (coplanar lattice vectors); give three independent ones")
        models = self.models if committee else self.models[:1]
        results = [m.eval(coords.reshape(nf, -1), cells.reshape(nf, 9), types) for m in models]
        energy = results[0][0].reshape(nf)
        forces = results[0][1].reshape(nf, -1, 3)
        virial = results[0][2].reshape(nf, 3, 3)
        max_dev = None
        if len(models) > 1:
            from deepmd.infer.model_devi import calc_model_devi_f

            all_forces = np.stack([r[1].reshape(nf, -1, 3) for r in results])
            max_dev = calc_model_devi_f(all_forces)[0]
        if self.pair is not None:
            term = self.pair.compute_batch(coords, cells, list(symbols))
            energy = energy + term.energy
            forces = forces + term.forces
            virial = virial + term.virial
        return Evaluation(energy, forces, virial, max_dev)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if not self.atoms.pbc.all():
            raise InputError("HydridePotential needs a periodic structure (pbc on all three axes)")
        ev = self.evaluate(self.atoms.positions[None], self.atoms.cell.array[None], self.atoms.get_chemical_symbols())
        self.results["energy"] = self.results["free_energy"] = float(ev.energy[0])
        self.results["forces"] = ev.forces[0]
        self.results["stress"] = full_3x3_to_voigt_6_stress(-ev.virial[0] / self.atoms.get_volume())
        if ev.max_force_dev is not None:
            self.results["max_force_dev"] = float(ev.max_force_dev[0])
