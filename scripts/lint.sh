#!/usr/bin/env bash
# clang-format check and clang-tidy over the project's sources (or the files
# given). Needs a configured build/ (compile_commands.json). Slow on the
# Beast-heavy files: run it before sending a change, not in every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
files=("$@")
if ((${#files[@]} == 0)); then
  mapfile -t files < <(git ls-files 'src/*.cc' 'apps/*.cc' | grep -v '_fuzz\(er\)\?\.cc$')
fi
status=0
clang-format --dry-run -Werror "${files[@]}" || status=1
printf '%s\n' "${files[@]}" | grep -v '_test\.cc$' |
  xargs -r -P "$(nproc)" -n 4 clang-tidy -p build --quiet --extra-arg=-Wno-unknown-warning-option || status=1
exit $status
