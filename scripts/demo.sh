#!/usr/bin/env bash
# The main job on the embedded defaults: `prober demo` runs a whole wave (phone and email) over
# the bundled sample structures against the simulated world, and shows what it measured.
set -euo pipefail
demo=${1:-demo}
prober demo "$demo"
