#!/usr/bin/env python3
"""The lab's per-release table: reads DIR/<spec>.json (the lab's
target/lab/<spec>.json, one per spec) and prints one markdown row per spec
(release, stack, and each scenario's headline figure), then the confirmed
messages lost over every scenario.

Usage: lab-matrix.py DIR
"""

import json
import os
import sys

ORDER = {"bookworm": 0, "trixie": 1, "sid": 2}

# (column, scenario, where the figure is)
COLUMNS = [
    ("formation: first message via VIP (s)", "formation", ("figures", "amqp_via_vip_s")),
    ("broker kill: out of rotation (s)", "broker-kill", ("figures", "haproxy_marked_down_s")),
    ("broker kill: client outage (s)", "broker-kill", ("outage_s",)),
    ("HAProxy kill: VIP move (s)", "haproxy-kill", ("vip_move_s",)),
    ("keepalived TERM: VIP move (s)", "keepalived-term", ("vip_move_s",)),
    ("keepalived KILL: VIP move (s)", "keepalived-kill", ("vip_move_s",)),
    ("link cut: VIP move (s)", "link-cut", ("vip_move_s",)),
]


def figure(scenario, where):
    v = scenario
    for key in where:
        if not isinstance(v, dict):
            return None
        v = v.get(key)
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def main(directory):
    reports = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as f:
                reports.append(json.load(f))
    if not reports:
        print(f"lab-matrix: no lab reports in {directory}", file=sys.stderr)
        return 1
    reports.sort(key=lambda r: (ORDER.get(r.get("release", ""), 9), r["spec"]))
    head = ["release", "spec", "RabbitMQ", "Erlang", "HAProxy", "keepalived", "queue HA"]
    head += [c[0] for c in COLUMNS] + ["lost (all scenarios)", "scenarios", "took (s)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in reports:
        by = {s["scenario"]: s for s in r["scenarios"]}
        row = [
            r.get("release", "?"),
            r["spec"],
            r["rabbitmq"],
            r.get("erlang", "?"),
            r["haproxy"].replace("HAProxy ", ""),
            r["keepalived"].replace("Keepalived ", ""),
            r["queue_ha"].split(" ")[0],
        ]
        for _, scenario, where in COLUMNS:
            v = figure(by.get(scenario, {}), where)
            row.append("-" if v is None else f"{v:.2f}")
        lost = [s["workload"]["lost"] for s in r["scenarios"] if s.get("workload")]
        problems = sum(len(s.get("problems") or []) for s in r["scenarios"])
        row.append(str(sum(lost)) if lost else "-")
        row.append(f"{len(r['scenarios'])}" + (f" ({problems} problems)" if problems else ""))
        row.append(f"{r['total_s']:.0f}")
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
