#!/usr/bin/env python3
"""Grade Autobahn|Testsuite (wstest) reports.

Usage:
    python3 autobahn/check.py REPORT_DIR [REPORT_DIR...]
        [--allow-unimplemented] [--expect-agents a,b,...] [--expect-cases N]

Each REPORT_DIR must hold the index.json that wstest writes:
    {agent: {caseId: {"behavior": ..., "behaviorClose": ..., ...}}}

A case passes when
  * behavior is OK or INFORMATIONAL (INFORMATIONAL is wstest's own grade for
    cases whose outcome is implementation defined, e.g. 7.1.6, 7.13.x), or
    UNIMPLEMENTED in sections 12/13 (permessage-deflate) when
    --allow-unimplemented is given; and
  * behaviorClose is OK or INFORMATIONAL. wstest computes behaviorClose
    normally for UNIMPLEMENTED cases too (it closes with 1000), so it is OK
    there; the other values it writes (FAILED, UNCLEAN, WRONG CODE,
    FAILED BY CLIENT) are failures.
NON-STRICT, FAILED, NO_CLOSE and anything else are failures.

The run also fails when an index.json is missing or unreadable, a report
has no cases, an agent given in --expect-agents has no cases in any report,
or (with --expect-cases N) an agent does not have exactly N cases.

Exit status: 0 when everything passes, 1 otherwise.
"""

import argparse
import json
import os
import sys

OK_BEHAVIORS = {"OK", "INFORMATIONAL"}
OK_CLOSE = {"OK", "INFORMATIONAL"}
UNIMPLEMENTED_SECTIONS = {"12", "13"}
COLUMNS = ["OK", "INFORMATIONAL", "NON-STRICT", "FAILED", "UNIMPLEMENTED", "close-not-OK"]


def case_key(case_id):
    """Sort "1.2.10" after "1.2.9"."""
    out = []
    for part in str(case_id).split("."):
        out.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return out


def section_of(case_id):
    return str(case_id).split(".", 1)[0]


def case_passes(case_id, result, allow_unimplemented):
    behavior = result.get("behavior")
    close = result.get("behaviorClose")
    if behavior in OK_BEHAVIORS:
        behavior_ok = True
    elif behavior == "UNIMPLEMENTED":
        behavior_ok = allow_unimplemented and section_of(case_id) in UNIMPLEMENTED_SECTIONS
    else:
        behavior_ok = False
    return behavior_ok and close in OK_CLOSE


def load_index(report_dir):
    """Return (data, error)."""
    path = os.path.join(report_dir, "index.json")
    if not os.path.isfile(path):
        return None, "%s: missing" % path
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        return None, "%s: unreadable: %s" % (path, e)
    if not isinstance(data, dict):
        return None, "%s: not a JSON object" % path
    for agent, cases in data.items():
        if not isinstance(cases, dict) or not all(isinstance(v, dict) for v in cases.values()):
            return None, "%s: agent %r: malformed case table" % (path, agent)
    return data, None


def check(report_dirs, allow_unimplemented=False, expect_agents=(), expect_cases=None,
          out=None):
    """Grade the reports; print the table and failures to `out`. Return exit code."""
    if out is None:
        out = sys.stdout
    errors = []        # problems that are not single cases
    failing = []       # (report, agent, case_id, behavior, behaviorClose)
    rows = []          # (report, agent, section, counts)
    totals = dict.fromkeys(COLUMNS, 0)
    total_cases = 0
    agents_seen = {}   # agent -> number of cases over all reports

    for report in report_dirs:
        data, err = load_index(report)
        if err:
            errors.append(err)
            continue
        n_report = sum(len(cases) for cases in data.values())
        if n_report == 0:
            errors.append("%s: index.json has no cases" % report)
        for agent in sorted(data):
            cases = data[agent]
            agents_seen[agent] = agents_seen.get(agent, 0) + len(cases)
            if expect_cases is not None and len(cases) != expect_cases:
                errors.append("%s: agent %s has %d cases, expected %d"
                              % (report, agent, len(cases), expect_cases))
            by_section = {}
            for case_id in sorted(cases, key=case_key):
                result = cases[case_id]
                counts = by_section.setdefault(section_of(case_id), dict.fromkeys(COLUMNS, 0))
                behavior = result.get("behavior")
                close = result.get("behaviorClose")
                col = behavior if behavior in ("OK", "INFORMATIONAL", "NON-STRICT",
                                               "UNIMPLEMENTED") else "FAILED"
                counts[col] += 1
                if close not in OK_CLOSE:
                    counts["close-not-OK"] += 1
                if not case_passes(case_id, result, allow_unimplemented):
                    failing.append((report, agent, case_id, behavior, close))
            for section in sorted(by_section, key=case_key):
                rows.append((report, agent, section, by_section[section]))
                for c in COLUMNS:
                    totals[c] += by_section[section][c]
            total_cases += len(cases)

    for agent in expect_agents:
        if not agents_seen.get(agent):
            errors.append("expected agent %s has no results" % agent)

    # ---- table ----
    w_rep = max([len("report")] + [len(r[0]) for r in rows])
    w_agent = max([len("agent")] + [len(r[1]) for r in rows])
    header = "%-*s  %-*s  %4s" % (w_rep, "report", w_agent, "agent", "sect")
    header += "".join("  %*s" % (max(len(c), 5), c) for c in COLUMNS)
    print(header, file=out)
    print("-" * len(header), file=out)
    for report, agent, section, counts in rows:
        line = "%-*s  %-*s  %4s" % (w_rep, report, w_agent, agent, section)
        line += "".join("  %*d" % (max(len(c), 5), counts[c]) for c in COLUMNS)
        print(line, file=out)
    print("-" * len(header), file=out)
    line = "%-*s  %-*s  %4s" % (w_rep, "total", w_agent, "", "")
    line += "".join("  %*d" % (max(len(c), 5), totals[c]) for c in COLUMNS)
    print(line, file=out)

    # ---- verdict ----
    if failing:
        print("", file=out)
        print("%d failing case(s):" % len(failing), file=out)
        for report, agent, case_id, behavior, close in failing:
            print("  %s  %s  %-8s behavior=%s behaviorClose=%s"
                  % (report, agent, case_id, behavior, close), file=out)
    if errors:
        print("", file=out)
        print("%d error(s):" % len(errors), file=out)
        for e in errors:
            print("  " + e, file=out)
    ok = not failing and not errors
    print("", file=out)
    print("autobahn: %s (%d cases, %d failing, %d errors%s)"
          % ("PASS" if ok else "FAIL", total_cases, len(failing), len(errors),
             ", unimplemented allowed in 12/13" if allow_unimplemented else ""), file=out)
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description="Grade wstest index.json reports.")
    ap.add_argument("reports", nargs="+", metavar="REPORT_DIR")
    ap.add_argument("--allow-unimplemented", action="store_true",
                    help="accept UNIMPLEMENTED in sections 12 and 13 (permessage-deflate)")
    ap.add_argument("--expect-agents", default="",
                    help="comma-separated agents that must have results")
    ap.add_argument("--expect-cases", type=int, default=None, metavar="N",
                    help="every agent must have exactly N cases")
    args = ap.parse_args(argv)
    agents = [a.strip() for a in args.expect_agents.split(",") if a.strip()]
    return check(args.reports, args.allow_unimplemented, agents, args.expect_cases)


if __name__ == "__main__":
    sys.exit(main())
