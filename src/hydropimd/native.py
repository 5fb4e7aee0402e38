"""Keeping native libraries' start-up chatter off the user's terminal.

TensorFlow and DeePMD-kit's compiled ops print to the process's stderr file
descriptor from C++ (CUDA probing on CPU-only machines, absl/MLIR notices),
which Python's logging cannot silence.  :func:`captured_native_stderr` diverts
file descriptor 2 while a model is loaded and first run; what was written is
kept at DEBUG level on the ``hydropimd.native`` logger, and re-emitted on
stderr if the block raises, so nothing diagnostic is lost; the lines known to
be start-up noise (:func:`without_noise`) are not re-emitted: the error that
follows says what went wrong.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from contextlib import contextmanager

log = logging.getLogger("hydropimd.native")

#: lines native libraries print on every start of a CPU-only machine, none of them about the user's input:
#: DeePMD-kit's CUDA stubs probing for libcudart (implib-gen), absl's pre-init warning, TensorFlow's oneDNN and
#: CPU-instruction notices
NOISE = re.compile(r"^(implib-gen: |DeePMD-kit: (Cannot find |Error message: )libcudart|WARNING: All log messages "
                   r"before absl|I0000 |To enable the following instructions|.*This TensorFlow binary is optimized)")


def without_noise(text: str) -> str:
    """``text`` without the lines of :data:`NOISE`."""
    return "".join(line for line in text.splitlines(keepends=True) if not NOISE.match(line))


@contextmanager
def captured_native_stderr():
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace")
            if text:
                log.debug("native stderr:\n%s", text)
                if failed:
                    sys.stderr.write(without_noise(text))
