import sys

from hydropimd.cli.main import main

sys.exit(main())
