"""Prints Autobahn results per section; exits 1 on any FAILED or NON-STRICT case."""
import json
import sys
from collections import Counter, defaultdict

KINDS = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]

with open(sys.argv[1]) as f:
    results = next(iter(json.load(f).values()))

sections = defaultdict(Counter)
bad = []
for case, result in results.items():
    behavior = result["behavior"]
    sections[int(case.split(".")[0])][behavior] += 1
    if behavior in ("FAILED", "NON-STRICT") or result.get("behaviorClose") == "FAILED":
        bad.append((case, behavior, result.get("behaviorClose")))

print("| section | " + " | ".join(KINDS) + " |")
print("|---|" + "---|" * len(KINDS))
for section in sorted(sections):
    counts = sections[section]
    print(f"| {section} | " + " | ".join(str(counts.get(k, 0)) for k in KINDS) + " |")
total = sum(sections.values(), Counter())
print("| all | " + " | ".join(str(total.get(k, 0)) for k in KINDS) + " |")

def case_key(item):
    return [int(p) for p in item[0].split(".")]

for case, behavior, close in sorted(bad, key=case_key):
    print(f"case {case}: {behavior} (close: {close})")
if bad:
    print(f"autobahn: {len(bad)} case(s) FAILED or NON-STRICT")
    sys.exit(1)
print(f"autobahn: all {len(results)} cases pass")
