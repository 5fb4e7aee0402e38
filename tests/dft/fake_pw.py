"""A stand-in for pw.x in the fast tests: replays a real pw.x output, fails on request, or hangs.

FAKE_PW_MODE: ok (default) | unconverged | crash | hang;  FAKE_PW_SLEEP: seconds before answering;
FAKE_PW_LOG: a file that gets one line per call, "mode pid folder" (to count the runs a relaunch makes);
FAKE_PW_HANG_FROM: hang from that call on (1-based).
"""

import gzip
import os
import sys
import time
from pathlib import Path

mode = os.environ.get("FAKE_PW_MODE", "ok")
log = os.environ.get("FAKE_PW_LOG")
calls = len(Path(log).read_text().splitlines()) if log and Path(log).exists() else 0
hang_from = int(os.environ.get("FAKE_PW_HANG_FROM") or 0)
if hang_from and calls + 1 >= hang_from:
    mode = "hang"
if log:
    with open(log, "a") as f:
        f.write(f"{mode} {os.getpid()} {os.getcwd()}\n")
assert "-in" in sys.argv and Path(sys.argv[sys.argv.index("-in") + 1]).is_file()
print("     Program PWSCF v.6.7MaX starts on  1Jan2026 at  0: 0: 0 ", flush=True)
time.sleep(float(os.environ.get("FAKE_PW_SLEEP", "0")))
if mode == "hang":
    time.sleep(3600)
elif mode == "unconverged":
    print("     convergence NOT achieved after 100 iterations: stopping\n\n   JOB DONE.")
    sys.exit(2)
elif mode == "crash":
    print(" " + "%" * 78 + "\n     Error in routine cdiaghg (42):\n     problems computing cholesky\n " + "%" * 78)
    print("\n     stopping ...")
    sys.exit(1)
else:
    sys.stdout.write(gzip.open(Path(__file__).with_name("data") / "pw_11atoms.out.gz", "rt").read())
