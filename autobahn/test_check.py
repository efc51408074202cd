#!/usr/bin/env python3
"""Self-test for autobahn/check.py: python3 autobahn/test_check.py"""

import io
import json
import os
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # keep autobahn/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402


def case(behavior="OK", close="OK"):
    return {"behavior": behavior, "behaviorClose": close, "duration": 1,
            "remoteCloseCode": 1000, "reportfile": "x.json"}


BASE = {
    "1.1.1": case(),
    "2.1": case(),
    "6.4.1": case(),
    "7.1.6": case("INFORMATIONAL", "INFORMATIONAL"),
    "12.1.1": case(),
}


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.n = 0

    def report(self, data):
        """Write data as index.json into a new report dir; return the dir."""
        self.n += 1
        d = os.path.join(self.tmp.name, "r%d" % self.n)
        os.makedirs(d)
        with open(os.path.join(d, "index.json"), "w") as f:
            json.dump(data, f)
        return d

    def agent(self, **overrides):
        """A case table for one agent: BASE with some cases replaced."""
        cases = dict(BASE)
        for k, v in overrides.items():
            cases[k.replace("_", ".").lstrip("c")] = v
        return cases

    def run_check(self, dirs, **kw):
        out = io.StringIO()
        rc = check.check(dirs, out=out, **kw)
        return rc, out.getvalue()

    def test_all_ok_passes(self):
        rc, out = self.run_check([self.report({"a": self.agent(), "b": self.agent()})],
                                 expect_agents=["a", "b"])
        self.assertEqual(rc, 0, out)
        self.assertIn("PASS", out)

    def test_non_strict_fails(self):
        d = self.report({"a": self.agent(c6_4_1=case("NON-STRICT"))})
        rc, out = self.run_check([d])
        self.assertEqual(rc, 1)
        self.assertIn("6.4.1", out)
        self.assertIn("behavior=NON-STRICT", out)

    def test_failed_fails(self):
        rc, out = self.run_check([self.report({"a": self.agent(c2_1=case("FAILED", "FAILED"))})])
        self.assertEqual(rc, 1)
        self.assertIn("behavior=FAILED behaviorClose=FAILED", out)

    def test_bad_close_fails(self):
        for close in ("WRONG CODE", "UNCLEAN", "FAILED BY CLIENT", "FAILED"):
            rc, out = self.run_check([self.report({"a": self.agent(c1_1_1=case("OK", close))})])
            self.assertEqual(rc, 1, close)
            self.assertIn("behaviorClose=%s" % close, out)

    def test_unimplemented_section_12(self):
        d = self.report({"a": self.agent(c12_1_1=case("UNIMPLEMENTED"))})
        rc, _ = self.run_check([d])
        self.assertEqual(rc, 1)
        rc, out = self.run_check([d], allow_unimplemented=True)
        self.assertEqual(rc, 0, out)

    def test_unimplemented_section_13(self):
        d = self.report({"a": self.agent(c13_1_1=case("UNIMPLEMENTED"))})
        self.assertEqual(self.run_check([d])[0], 1)
        self.assertEqual(self.run_check([d], allow_unimplemented=True)[0], 0)

    def test_unimplemented_section_6_always_fails(self):
        d = self.report({"a": self.agent(c6_4_1=case("UNIMPLEMENTED"))})
        self.assertEqual(self.run_check([d])[0], 1)
        rc, out = self.run_check([d], allow_unimplemented=True)
        self.assertEqual(rc, 1)
        self.assertIn("6.4.1", out)

    def test_unimplemented_with_bad_close_fails(self):
        d = self.report({"a": self.agent(c12_1_1=case("UNIMPLEMENTED", "UNCLEAN"))})
        self.assertEqual(self.run_check([d], allow_unimplemented=True)[0], 1)

    def test_missing_agent_fails(self):
        d = self.report({"a": self.agent()})
        rc, out = self.run_check([d], expect_agents=["a", "b"])
        self.assertEqual(rc, 1)
        self.assertIn("expected agent b has no results", out)

    def test_agent_found_in_second_report(self):
        rc, out = self.run_check([self.report({"a": self.agent()}),
                                  self.report({"b": self.agent()})],
                                 expect_agents=["a", "b"])
        self.assertEqual(rc, 0, out)

    def test_failure_in_second_report_fails(self):
        rc, _ = self.run_check([self.report({"a": self.agent()}),
                                self.report({"b": self.agent(c2_1=case("FAILED"))})])
        self.assertEqual(rc, 1)

    def test_empty_index_fails(self):
        for data in ({}, {"a": {}}):
            rc, out = self.run_check([self.report(data)])
            self.assertEqual(rc, 1, data)
            self.assertIn("no cases", out)

    def test_missing_index_fails(self):
        d = os.path.join(self.tmp.name, "nothing")
        os.makedirs(d)
        rc, out = self.run_check([d])
        self.assertEqual(rc, 1)
        self.assertIn("missing", out)

    def test_malformed_index_fails(self):
        d = self.report({})
        with open(os.path.join(d, "index.json"), "w") as f:
            f.write("{not json")
        self.assertEqual(self.run_check([d])[0], 1)

    def test_expect_cases(self):
        d = self.report({"a": self.agent()})
        self.assertEqual(self.run_check([d], expect_cases=len(BASE))[0], 0)
        self.assertEqual(self.run_check([d], expect_cases=len(BASE) + 1)[0], 1)

    def test_table_rows_and_counts(self):
        d = self.report({"a": self.agent(c12_1_1=case("UNIMPLEMENTED"),
                                         c6_4_1=case("NON-STRICT", "WRONG CODE"))})
        _, out = self.run_check([d])
        rows = [l.split() for l in out.splitlines() if l.startswith(d)]
        self.assertEqual([r[2] for r in rows], ["1", "2", "6", "7", "12"])
        row6 = rows[2]
        # OK INFORMATIONAL NON-STRICT FAILED UNIMPLEMENTED close-not-OK
        self.assertEqual(row6[3:], ["0", "0", "1", "0", "0", "1"])
        self.assertEqual(rows[3][3:], ["0", "1", "0", "0", "0", "0"])
        self.assertEqual(rows[4][3:], ["0", "0", "0", "0", "1", "0"])

    def test_cli(self):
        d = self.report({"a": self.agent(c12_1_1=case("UNIMPLEMENTED"))})
        saved = sys.stdout
        sys.stdout = io.StringIO()
        try:
            self.assertEqual(check.main([d, "--expect-agents", "a"]), 1)
            self.assertEqual(check.main([d, "--allow-unimplemented", "--expect-agents", "a"]), 0)
            self.assertEqual(check.main([d, "--allow-unimplemented", "--expect-agents", "a,z"]), 1)
        finally:
            sys.stdout = saved


if __name__ == "__main__":
    unittest.main()
