#!/usr/bin/env bash
# build-deb.sh OUT - `make deb`: build the Debian package (debian/, debhelper)
# from this tree's tracked and new, not ignored, files, copied to
# OUT/logdist-VERSION/ (dpkg-buildpackage writes its results to the parent of
# the source dir: OUT/, never next to the worktree). Prints the .deb's path and
# how long the build took. Needs the Build-Depends of debian/control
# (scripts/setup-deps.sh installs them).
set -euo pipefail
OUT="${1:-build-deb}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VERSION="$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)"
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac  # relative to the tree, as `make deb` passes it
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
SRC="$OUT/logdist-$VERSION"
rm -rf "$SRC" "$OUT"/logdist_"$VERSION"_* "$OUT"/logdist-dbgsym_"$VERSION"_*
mkdir -p "$SRC"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
   while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
   tar --null -T - -cf -) | tar -xf - -C "$SRC"
start=$(date +%s.%N)
(cd "$SRC" && dpkg-checkbuilddeps && dpkg-buildpackage -b -us -uc -j"$(nproc)" >"$OUT/build.log" 2>&1) || {
  echo "build-deb: dpkg-buildpackage failed; the end of $OUT/build.log:" >&2
  tail -40 "$OUT/build.log" >&2
  exit 1
}
end=$(date +%s.%N)
deb="$(ls "$OUT"/logdist_"$VERSION"_*.deb)"
awk -v d="$deb" -v s="$start" -v e="$end" 'BEGIN { printf "build-deb: %s (%.0f s)\n", d, e - s }'
