#!/usr/bin/env bash
# Runs the kernel-lab tests (vitest project "lab"). A lab file that fails is run once more and
# the summary names it: the lab's checks are timing-bound (MKA life times, peer restarts,
# wpa_supplicant start-up inside User-Mode Linux on two cores), and one slow moment must not
# hide whether the code is right. A file that fails twice fails the run; the first failure is
# always printed above the retry, never swallowed.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .lab
results=.lab/lab-results.json
rm -f "$results"
npx vitest run --project lab --reporter=default --reporter=json --outputFile="$results" "$@"
rc=$?
(( rc == 0 )) && exit 0
failed="$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const cwd = process.cwd() + "/";
  console.log(r.testResults.filter((t) => t.status !== "passed").map((t) => t.name.replace(cwd, "")).join(" "));
' "$results" 2>/dev/null)"
if [[ -z $failed ]]; then
  echo "lab: the run failed before any test file reported (rc=$rc); not retried" >&2
  exit "$rc"
fi
echo "lab: failed on the first attempt: $failed" >&2
echo "lab: running these once more" >&2
# shellcheck disable=SC2086  # one argument per file
npx vitest run --project lab $failed
rc2=$?
if (( rc2 == 0 )); then echo "lab: FLAKY (failed once, passed on the retry): $failed" >&2; else echo "lab: failed twice: $failed" >&2; fi
exit "$rc2"
