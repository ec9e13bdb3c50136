"""Prints Autobahn results per section and checks them.

    summarize.py INDEX_JSON EXPECTED_JSON [--update]

Fails (exit 1) when any case is not OK or INFORMATIONAL (its behavior or
its close behavior), or when the run differs from EXPECTED_JSON in any
case it ran: the committed expected results, normalised to
case id -> {"behavior", "behaviorClose"} (durations and report files
aside). With --update, writes the run's results to EXPECTED_JSON instead
of comparing.
"""
import json
import sys
from collections import Counter, defaultdict

KINDS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
PASSING = ("OK", "INFORMATIONAL")


def case_key(case):
    return [int(p) for p in case.split(".")]


def normalise(index_path):
    with open(index_path) as f:
        results = next(iter(json.load(f).values()))
    return {
        case: {"behavior": r["behavior"], "behaviorClose": r["behaviorClose"]}
        for case, r in results.items()
    }


def print_table(results):
    sections = defaultdict(Counter)
    for case, r in results.items():
        sections[int(case.split(".")[0])][r["behavior"]] += 1
    print("| section | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for section in sorted(sections):
        counts = sections[section]
        print(f"| {section} | " + " | ".join(str(counts.get(k, 0)) for k in KINDS) + " |")
    total = sum(sections.values(), Counter())
    print("| all | " + " | ".join(str(total.get(k, 0)) for k in KINDS) + " |")


def main():
    index_path, expected_path = sys.argv[1], sys.argv[2]
    results = normalise(index_path)
    print_table(results)

    failures = []
    for case in sorted(results, key=case_key):
        r = results[case]
        if r["behavior"] not in PASSING or r["behaviorClose"] not in PASSING:
            failures.append(f"case {case}: {r['behavior']} (close: {r['behaviorClose']})")

    if "--update" in sys.argv[3:]:
        ordered = {case: results[case] for case in sorted(results, key=case_key)}
        with open(expected_path, "w") as f:
            json.dump(ordered, f, indent=1)
            f.write("\n")
        print(f"autobahn: wrote {len(results)} cases to {expected_path}")
    else:
        try:
            with open(expected_path) as f:
                expected = json.load(f)
        except FileNotFoundError:
            expected = {}
        for case in sorted(results, key=case_key):
            if case not in expected:
                failures.append(f"case {case}: not in {expected_path}")
            elif results[case] != expected[case]:
                failures.append(f"case {case}: {results[case]}, expected {expected[case]}")

    for line in failures:
        print(line)
    if failures:
        print(f"autobahn: {len(failures)} problem(s) in {len(results)} cases")
        sys.exit(1)
    print(f"autobahn: all {len(results)} cases OK or INFORMATIONAL, as expected")


main()
