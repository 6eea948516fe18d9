"""gxp-assets: Dagster assets for machine learning in regulated life sciences."""

import os

# LightGBM's OpenMP threads spin while they wait for work. On a machine whose cores are busy with other work (a
# laptop, a shared CI runner, two runs at once) spinning threads starve each other: 100 boosting rounds took 45 s
# instead of 11 s here with two other processes running. Passive waiting costs nothing measurable on an idle
# machine. It must be set before the OpenMP runtime loads, i.e. before lightgbm is imported; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
