#!/usr/bin/env bash
# Runs after ctest's tests (CTEST_CUSTOM_POST_TEST, see tests/CMakeLists.txt) and prints one
# line naming every test of the run that was skipped, with why, from the run's log: the lines
# "ABLATE-SKIPPED: <why>" of tests/support/skip.sh and GoogleTest's "[  SKIPPED ]" with the
# message before it. Prints nothing when nothing was skipped. Always exits 0: ctest's own summary
# says whether the run passed.
#   skip_summary.sh LAST_TEST_LOG
# While ctest runs (and so when it runs this), the log of the run is LAST_TEST_LOG.tmp, complete;
# ctest renames it to LAST_TEST_LOG after this script.
log=${1:-}
[[ -f "$log.tmp" ]] && log="$log.tmp"
[[ -f "$log" ]] || exit 0
awk '
  /^[0-9]+\/[0-9]+ Test: / { name = $3; in_output = 0; gtest_reason = ""; next }
  /^Output:$/ { in_output = 1; next }
  /^<end of output>$/ { in_output = 0; next }
  !in_output { next }
  /^ABLATE-SKIPPED: / { sub(/^ABLATE-SKIPPED: /, ""); add(name, $0); next }
  /: Skipped$/ { want_reason = 1; next }
  want_reason { gtest_reason = $0; want_reason = 0; next }
  /^\[  SKIPPED \] / { add(name, gtest_reason == "" ? "skipped by the test" : gtest_reason); next }
  # Tests skipped for the same reason share one entry: "a, b: why".
  function add(test, why) {
    if (test in seen) return
    seen[test] = 1
    ++n
    if (why in tests) {
      tests[why] = tests[why] ", " test
    } else {
      reasons[++r] = why
      tests[why] = test
    }
  }
  END {
    if (n == 0) exit
    line = "Skipped (" n "): " tests[reasons[1]] ": " reasons[1]
    for (i = 2; i <= r; ++i) line = line "; " tests[reasons[i]] ": " reasons[i]
    print line
  }
' "$log"
exit 0
