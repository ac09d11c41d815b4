"""`python -m bench`: the same as `make bench` once the bench requirements are installed."""

import sys

from bench.run import main

sys.exit(main())
