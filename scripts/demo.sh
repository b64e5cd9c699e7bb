#!/usr/bin/env bash
# The main job on the embedded defaults: a new project, the bundled sample structures,
# a wave over them, its plan and its export.
set -euo pipefail
demo=${1:-demo}
samples=$(python -c 'import prober.samples as s, pathlib; print(pathlib.Path(s.__file__).parent)')

rm -rf "$demo"
prober init "$demo"
cd "$demo"
set -x
prober structures import "$samples/structures.csv"
prober structures import "$samples/annuaire-sample.json"
prober wave create demo-2027-pre --start 2027-03-01 --end 2027-03-26 \
    --channels phone,email --calls-per-structure 3 --emails-per-structure 1 --off-hours-calls 1
prober wave plan demo-2027-pre --seed 1
prober wave show demo-2027-pre
prober wave export demo-2027-pre --format csv --out probes.csv
head -n 4 probes.csv
{ set +x; } 2>/dev/null
echo "demo: the plan is in $demo/prober.db; every probe is listed in $demo/probes.csv"
