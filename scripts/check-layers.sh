#!/usr/bin/env bash
# check-layers.sh - includes point one way. The folders of src/ are layers, lowest
# first; a file may include headers of its own folder and of the folders before it,
# never of a folder after it. The build enforces the same rule (each folder is its own
# static library compiled against an include root holding only the folders it may see:
# see LOGDIST_LAYERS in CMakeLists.txt); this script says it in one line per breach.
# Usage: scripts/check-layers.sh [SRC_DIR]   (make lint runs it). Exit 1 on a breach.
set -euo pipefail
SRC=${1:-"$(dirname "$0")/../src"}
# keep in step with LOGDIST_LAYERS in CMakeLists.txt
LAYERS=(common core record ingress store ingest proto route deliver cluster admin app)
rank() { local i; for i in "${!LAYERS[@]}"; do [ "${LAYERS[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo -1; }
bad=0
for dir in "$SRC"/*/; do
  layer=$(basename "$dir")
  r=$(rank "$layer")
  if [ "$r" -lt 0 ]; then echo "check-layers: src/$layer/ is not a known layer (add it to LAYERS)"; bad=1; continue; fi
  while IFS=: read -r file line inc; do
    target=${inc#*\"}; target=${target%%/*}
    t=$(rank "$target")
    [ "$t" -lt 0 ] && continue
    if [ "$t" -gt "$r" ]; then
      echo "check-layers: ${file#"$SRC"/}:$line includes $target/ (a later layer than $layer/): ${LAYERS[*]}"
      bad=1
    fi
  done < <(grep -Hn '^#include "[a-z_]*/' "$dir"*.[ch] 2>/dev/null | sed 's/:#include /:/' || true)
done
exit $bad
