#!/usr/bin/env bash
# systemd-analyze verify on deploy/systemd/*.service, with ExecStart pointed
# at the freshly built binaries (verify insists the command exists). Any
# warning (an unknown or misspelt directive, a bad value) fails the test:
# systemd-analyze itself only warns about those.
set -euo pipefail
source_dir=$1
bin_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$source_dir"/deploy/systemd/*.service "$source_dir"/deploy/systemd/*.timer "$work"/
sed -i "s#/usr/local/bin/#$bin_dir/#g" "$work"/*.service
status=0
for unit in "$work"/*.service "$work"/*.timer; do
  if ! out=$(cd "$work" && systemd-analyze verify "./$(basename "$unit")" 2>&1) || [[ -n $out ]]; then
    echo "FAIL $(basename "$unit"):"
    echo "$out"
    status=1
  else
    echo "ok   $(basename "$unit")"
  fi
done
exit $status
