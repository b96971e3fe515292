# Skipping a shell test, in the two ways a test may skip (source this file):
#
#   skip_missing_tool TOOL INSTALL
#       A tool that deploy/install-deps.sh installs is missing (INSTALL says which package).
#       On a developer's machine the test is skipped; under CI (CI=true in the environment,
#       which .ci/run sets) it fails, saying what is missing: a CI run that skipped it would
#       pass without having tested anything.
#   skip_capability REASON
#       The machine cannot do what the test needs (mount a tmpfs, run as root): skipped, CI or
#       not.
#
# A skip exits 77 (the tests' SKIP_RETURN_CODE) after printing "ABLATE-SKIPPED: <why>", the line
# that tests/skip_summary.sh lists at the end of the ctest run.

skip_missing_tool() {
  local tool=$1 install=$2
  if [[ "${CI:-}" == true ]]; then
    echo "FAIL: ${tool} is missing, so this test cannot run; deploy/install-deps.sh installs it" \
      "(${install}), and under CI (CI=true) a missing tool fails the test instead of skipping it." >&2
    exit 1
  fi
  echo "ABLATE-SKIPPED: ${tool} is missing (deploy/install-deps.sh installs ${install})"
  exit 77
}

skip_capability() {
  echo "ABLATE-SKIPPED: $1"
  exit 77
}
