#!/usr/bin/env python3
"""The spread of the lab's figures across runs (scripts/test-all.sh lab
--repeat N): reads RUNS/<i>/<spec>.json (the lab's target/lab/<spec>.json of
run i) and prints, per spec, scenario and figure, min / median / max over
the runs that have it, and in how many runs it was measured.

Usage: lab-spread.py RUNS_DIR
"""

import json
import os
import statistics
import sys

# Per scenario, the figures in this order first (client outage, VIP move),
# then every other numeric figure by name.
FIRST = ["outage_s", "vip_move_s", "vip_both_s", "failed_probes", "lost", "dup"]


def numbers(scenario):
    """Every numeric figure of one scenario result: name -> value."""
    out = {}
    for key in ("outage_s", "vip_move_s", "vip_both_s"):
        v = scenario.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    if scenario.get("probes"):
        out["failed_probes"] = float(scenario.get("failed_probes", 0))
    w = scenario.get("workload")
    if w:
        out["lost"] = float(w["lost"])
        out["dup"] = float(w["dup"])
    for key, v in (scenario.get("figures") or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    return out


# Counts, printed as whole numbers; every other figure is seconds.
COUNTS = {"failed_probes", "lost", "dup"}


def fmt(key, v):
    return ("%d" % v) if key in COUNTS else ("%.2f" % v)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    runs_dir = sys.argv[1]
    runs = sorted(
        (d for d in os.listdir(runs_dir) if d.isdigit()),
        key=int,
    )
    # spec -> scenario (in first-seen order) -> figure -> [values]
    data = {}
    for run in runs:
        d = os.path.join(runs_dir, run)
        for name in sorted(os.listdir(d)):
            if not name.endswith(".json"):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                report = json.load(f)
            spec = data.setdefault(report["spec"], {})
            for s in report.get("scenarios", []):
                figs = spec.setdefault(s["scenario"], {})
                for k, v in numbers(s).items():
                    figs.setdefault(k, []).append(v)
    if not data:
        print("lab spread: no target/lab/<spec>.json in %s" % runs_dir)
        return 1
    print("lab spread over %d runs: min / median / max (runs measured)" % len(runs))
    for spec, scenarios in data.items():
        print("\n%s" % spec)
        print("  %-18s %-28s %8s %8s %8s  %s" % ("scenario", "figure", "min", "median", "max", "n"))
        for scenario, figs in scenarios.items():
            keys = [k for k in FIRST if k in figs] + sorted(k for k in figs if k not in FIRST)
            for k in keys:
                v = figs[k]
                print(
                    "  %-18s %-28s %8s %8s %8s  %d"
                    % (scenario, k, fmt(k, min(v)), fmt(k, statistics.median(v)), fmt(k, max(v)), len(v))
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
