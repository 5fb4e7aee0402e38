"""Exploration leaves the calling process as it found it: MD runs in worker processes of their own.

Before, exploration ran i-PI in the caller's process and the bead-group driver set DeePMD-kit's
and OpenMP's thread variables there, so the selection that followed in the same process ran
with the MD's thread settings.  Now the deviations computed after an exploration, in the same
process, equal those computed in a fresh process.
"""

import json
import os
import subprocess
import sys

import numpy as np
from ase.io import write

from hydropimd.active.deviation import force_deviation
from hydropimd.active.explore import explore
from hydropimd.active.select import read_candidates
from hydropimd.structures import build_lah10

THREAD_VARIABLES = ("DP_INTRA_OP_PARALLELISM_THREADS", "DP_INTER_OP_PARALLELISM_THREADS", "OMP_NUM_THREADS")
FRESH_PROCESS = """
import json, sys
from hydropimd.active.deviation import force_deviation
from hydropimd.active.select import read_candidates
print(json.dumps(force_deviation(read_candidates(sys.argv[1]), sys.argv[2:]).tolist()))
"""


def test_explore_then_select_in_one_process_equals_separate_processes(tmp_path, published):
    structures = tmp_path / "start.extxyz"
    write(structures, [build_lah10(a=5.05, angles=(90.6, 90.6, 90.6))])
    model, pair = published / "models/subtracted/graph.pb", published / "tables/full.table"
    committee = [str(model), str(published / "models/full/graph.pb")]
    environment = {k: os.environ.get(k) for k in THREAD_VARIABLES}

    summary = explore(model, structures, {"beads": [2], "steps": 10, "stride": 5}, tmp_path / "explore", pair=pair)
    assert {k: os.environ.get(k) for k in THREAD_VARIABLES} == environment  # nothing leaked into this process
    here = force_deviation(read_candidates(summary["candidates"]), committee)

    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    fresh = subprocess.run([sys.executable, "-c", FRESH_PROCESS, summary["candidates"], *committee],
                           capture_output=True, text=True, env=env, check=True)
    separate = np.array(json.loads(fresh.stdout.splitlines()[-1]))
    assert len(here) == summary["frames"] == 4
    assert np.allclose(here, separate, rtol=1e-10, atol=1e-12)
