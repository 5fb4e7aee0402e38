"""The two kinds of error users see, as ASE separates ``CalculatorSetupError`` from ``CalculationFailed``.

* :class:`InputError`: the user's mistake (a missing file, a bad number, atoms too
  close).  Nothing ran, or nothing that matters; fixing the input fixes it.
  Exit status :data:`EXIT_INPUT` (2).
* :class:`RunFailed`: the input was accepted but the computation failed while it
  ran (a cell that exploded, a LAMMPS client that died, ``dp train`` or pw.x
  stopping).  Exit status :data:`EXIT_RUN_FAILED` (3).  ``retryable`` says
  whether running the same thing again may succeed (a killed process, a dead
  client, a walltime) or will fail the same way (a deterministic blow-up):
  ``study`` and ``active`` use it to decide what to resubmit.

Both carry a one-line message that names the problem and, where there is one,
the fix.  The command-line layer prints that line and exits with the kind's
status, without a traceback; Python callers catch :class:`HydropimdError` for both.
They are ASE's two kinds too (:class:`InputError` a ``CalculatorSetupError``,
:class:`RunFailed` a ``CalculationFailed``), so ASE code around our calculator
that catches ``CalculatorError`` sees them.
"""

from ase.calculators.calculator import CalculationFailed, CalculatorSetupError

#: exit status of a command refused for bad input
EXIT_INPUT = 2
#: exit status of a command whose computation failed at run time
EXIT_RUN_FAILED = 3


class HydropimdError(Exception):
    """Any error hydropimd reports to its user as one line."""

    exit_status = 1
    kind = "error"

    def reworded(self, message: str) -> "HydropimdError":
        """The same error (type and attributes) with another message, e.g. one that adds where it happened."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.args = (message,)
        return copy


class InputError(HydropimdError, ValueError, CalculatorSetupError):
    """Bad input: the message is one line, names the problem and the fix."""

    exit_status = EXIT_INPUT
    kind = "input"


class RunFailed(HydropimdError, CalculationFailed):
    """A run that failed while it ran; ``retryable``: whether the same run may succeed when tried again."""

    exit_status = EXIT_RUN_FAILED
    kind = "run"

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class AtomsTooClose(InputError):
    """Two atoms closer than a potential's tables start; ``pair``: which two, how close, which table (no fix).

    In a structure given by the user this is bad input; met during MD, whose start structure was checked,
    it means the dynamics blew up (:mod:`hydropimd.md.run` rewords it as a :class:`RunFailed`)."""

    def __init__(self, pair: str):
        super().__init__(f"{pair}; fix the structure")
        self.pair = pair


def error_record(err: HydropimdError) -> dict:
    """What a worker writes about its failure (``failed.json``): kind, message, whether a retry may help."""
    return {"kind": err.kind, "message": str(err), "retryable": bool(getattr(err, "retryable", False)),
            "exit_status": err.exit_status}


def error_from_record(record: dict) -> HydropimdError:
    """The exception a ``failed.json`` record describes (inverse of :func:`error_record`)."""
    if record.get("kind") == "input":
        return InputError(record["message"])
    return RunFailed(record["message"], retryable=record.get("retryable", False))
