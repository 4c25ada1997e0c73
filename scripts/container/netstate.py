#!/usr/bin/env python3
"""Undo the host network changes a Docker engine makes (scripts/container-test.sh).

  netstate.py save DIR      record iptables/ip6tables rules, IPv4 forwarding and links
  netstate.py restore DIR   after the engine stopped: delete every rule and chain that
                            appeared since (in every table), restore chain policies and
                            forwarding, and delete the bridges (docker0, br-*) that appeared

Only what differs from the saved state is touched, so rules that were there before stay.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

FAMILIES = {"iptables": "iptables", "ip6tables": "ip6tables"}
FORWARD = pathlib.Path("/proc/sys/net/ipv4/ip_forward")


def run(cmd: list[str], stdin: str | None = None) -> str:
    try:
        return subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, "stderr", "") or str(e)
        print(f"netstate: {' '.join(cmd)}: {err.strip()}", file=sys.stderr)
        return ""


def parse(dump: str) -> dict:
    """{table: {"chains": {name: policy}, "rules": [rule lines in order]}}"""
    tables: dict = {}
    table = None
    for line in dump.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            tables[table] = {"chains": {}, "rules": []}
        elif line.startswith(":") and table:
            name, policy = line[1:].split()[:2]
            tables[table]["chains"][name] = policy
        elif line.startswith("-A ") and table:
            tables[table]["rules"].append(line)
    return tables


def links() -> list[str]:
    out = run(["ip", "-o", "link", "show"])
    return sorted({m.group(1) for m in re.finditer(r"^\d+: ([^:@]+)", out, re.M)})


def save(directory: pathlib.Path) -> None:
    state = {
        "tables": {fam: parse(run([f"{cmd}-save"])) for fam, cmd in FAMILIES.items()},
        "ip_forward": FORWARD.read_text().strip() if FORWARD.exists() else None,
        "links": links(),
    }
    (directory / "netstate.json").write_text(json.dumps(state))


def restore(directory: pathlib.Path) -> None:
    path = directory / "netstate.json"
    if not path.exists():
        return
    before = json.loads(path.read_text())
    changed = 0
    for fam, cmd in FAMILIES.items():
        old_tables = before["tables"].get(fam, {})
        now = parse(run([f"{cmd}-save"]))
        script = []
        for table, state in now.items():
            old = old_tables.get(table, {"chains": {}, "rules": []})
            lines = []
            for rule in state["rules"]:
                if rule not in old["rules"]:
                    lines.append("-D " + rule[3:])
            new_chains = [c for c in state["chains"] if c not in old["chains"]]
            lines += [f"-F {c}" for c in new_chains]
            lines += [f"-X {c}" for c in new_chains]
            for chain, policy in state["chains"].items():
                old_policy = old["chains"].get(chain)
                if policy != "-" and old_policy not in (None, "-") and policy != old_policy:
                    lines.append(f"-P {chain} {old_policy}")
            if lines:
                script += [f"*{table}", *lines, "COMMIT"]
                changed += len(lines)
        if script:
            run([f"{cmd}-restore", "--noflush"], "\n".join(script) + "\n")
    if before.get("ip_forward") is not None and FORWARD.exists():
        if FORWARD.read_text().strip() != before["ip_forward"]:
            FORWARD.write_text(before["ip_forward"] + "\n")
            changed += 1
    for link in links():
        if link not in before["links"] and (link == "docker0" or link.startswith(("br-", "veth"))):
            run(["ip", "link", "delete", link])
            changed += 1
    print(f"netstate: restored the host network state ({changed} changes undone)")


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("save", "restore"):
        print(__doc__, file=sys.stderr)
        return 2
    directory = pathlib.Path(sys.argv[2])
    (save if sys.argv[1] == "save" else restore)(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
