"""`python -m gxp_assets.cli`: the same as the `gxp` console script."""

import sys

from gxp_assets.cli.main import main

sys.exit(main())
