#!/usr/bin/env bash
# Clang's thread-safety analysis over the server, the client and the core: every file they
# compile, with the flags of the main (g++) build, checked by clang++ -fsyntax-only with
# -Wthread-safety -Werror=thread-safety. It reads the main build's compile_commands.json, so
# it needs no second configure and produces no objects; any ABSL_GUARDED_BY member touched
# without its mutex, or a function called without the lock it requires, fails the test.
#
#   check.sh BUILD_DIR        (ctest runs it as thread_safety, after the build)
#
# The compiler is $ABLATE_TSA_CXX when set (ctest sets it to what CMake found), else
# clang++-14 or clang++ on the PATH. Without one (Debian: clang-14) the test is skipped, or
# under CI (CI=true) failed (tests/support/skip.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
source "${here}/../support/skip.sh"
build="${1:?check.sh BUILD_DIR}"
commands="${build}/compile_commands.json"

compiler=""
if [[ -n "${ABLATE_TSA_CXX:-}" ]]; then
  [[ -x "${ABLATE_TSA_CXX}" ]] && compiler="${ABLATE_TSA_CXX}"
else
  for c in clang++-14 clang++; do
    if command -v "${c}" >/dev/null; then compiler="$(command -v "${c}")"; break; fi
  done
fi
[[ -n "${compiler}" ]] || skip_missing_tool "clang++ for the thread-safety analysis" "package clang-14"
command -v jq >/dev/null || skip_missing_tool "jq" "package jq"
[[ -f "${commands}" ]] || { echo "check.sh: no ${commands} (configure the build first)" >&2; exit 1; }

list="$(mktemp)"
# Only files that can see an annotation are checked (the analysis has nothing to say about the
# others, and parsing gRPC's and Eigen's headers is most of the time): those whose text, or a
# project header they include directly or through other project headers, declares a lock or
# uses the annotations.
annotated="$(mktemp)"
trap 'rm -f "${list}" "${annotated}"' EXIT
(cd "${root}" && grep -rlE 'ABSL_(GUARDED_BY|PT_GUARDED_BY|EXCLUSIVE_LOCKS_REQUIRED|SHARED_LOCKS_REQUIRED|LOCKABLE|SCOPED_LOCKABLE)|absl::Mutex' \
   --include='*.h' server client core common 2>/dev/null || true) | sort -u >"${annotated}"
for _ in 1 2 3 4 5 6 7 8; do  # headers that include an annotated header, to a fixed point
  pattern="$(sed 's/.*/#include "&"/' "${annotated}")"
  [[ -n "${pattern}" ]] || break
  before=$(wc -l <"${annotated}")
  { cat "${annotated}"; (cd "${root}" && grep -rlF -f <(echo "${pattern}") --include='*.h' \
      server client core common 2>/dev/null || true); } | sort -u >"${annotated}.next"
  mv "${annotated}.next" "${annotated}"
  (($(wc -l <"${annotated}") == before)) && break
done
sees_annotation() {  # FILE (absolute)
  grep -qE 'ABSL_(GUARDED_BY|EXCLUSIVE_LOCKS_REQUIRED|SHARED_LOCKS_REQUIRED|LOCKS_EXCLUDED)|absl::Mutex' "$1" && return 0
  [[ -s "${annotated}" ]] || return 1
  grep -qF -f <(sed 's/.*/#include "&"/' "${annotated}") "$1"
}
jq -r --arg root "${root}/" '
  .[] | select(.file | startswith($root + "server/") or startswith($root + "client/")
                       or startswith($root + "core/"))
      | [.directory, .file, .command] | join("\u001f")' "${commands}" >"${list}"
while IFS=$'\037' read -r directory file command; do
  sees_annotation "${file}" && printf '%s\037%s\037%s\n' "${directory}" "${file}" "${command}"
done <"${list}" >"${list}.seen"
mv "${list}.seen" "${list}"
count=$(wc -l <"${list}")
((count > 0)) || { echo "check.sh: no server, client or core file sees a lock annotation" >&2; exit 1; }

# Each file's command with g++ swapped for clang++ and the object output dropped. Only the
# analysis's warnings are on (-Wno-everything first): the g++ build has its own warning flags,
# which clang words differently.
start=${SECONDS}
check_one() {
  local directory=$1 file=$2 command=$3
  local argv
  eval "argv=(${command})"  # CMake writes each command shell-quoted
  local args=() skip=0
  for a in "${argv[@]:1}"; do
    if ((skip)); then skip=0; continue; fi
    case "${a}" in
      -o) skip=1 ;;
      -c) ;;
      *) args+=("${a}") ;;
    esac
  done
  cd "${directory}" && "${ABLATE_TSA_COMPILER}" "${args[@]}" -fsyntax-only -Wno-everything \
    -Wthread-safety -Werror=thread-safety
}
export -f check_one
export ABLATE_TSA_COMPILER="${compiler}"
status=0
xargs -d '\n' -P "${ABLATE_TSA_JOBS:-2}" -I{} bash -c 'IFS=$'"'"'\037'"'"' read -r d f c <<<"$1"; check_one "$d" "$f" "$c" || { echo "thread-safety: $f" >&2; exit 255; }' _ {} <"${list}" ||
  status=$?
if ((status != 0)); then
  echo "check.sh: the thread-safety analysis failed (above)" >&2
  exit 1
fi
echo "check.sh: ${count} files pass clang's -Wthread-safety ($(basename "${compiler}")) in $((SECONDS - start)) s"
