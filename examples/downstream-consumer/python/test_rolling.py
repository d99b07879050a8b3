"""Runs the shared cases of test/vectors.json against rolling.py: python3 -m unittest discover python"""

import json
import math
import os
import unittest

from rolling import RollingAverages

VECTORS = os.path.join(os.path.dirname(__file__), "..", "test", "vectors.json")


class RollingAveragesTest(unittest.TestCase):
    def test_shared_vectors(self):
        with open(VECTORS, encoding="utf-8") as f:
            cases = json.load(f)
        averages = RollingAverages(cases["windowMs"])
        for i, (record, expected) in enumerate(zip(cases["inputs"], cases["expected"])):
            got = averages.add(record["key"], record["at"], record["value"])
            self.assertStats(got, expected, f"after input {i}: {record}")
        self.assertEqual(len(averages.all()), len(cases["final"]))
        for got, expected in zip(averages.all(), cases["final"]):
            self.assertStats(got, expected, "final")

    def assertStats(self, got, expected, where):
        if expected is None:
            self.assertIsNone(got, where)
            return
        self.assertIsNotNone(got, where)
        for name, value in expected.items():
            if name == "average":
                self.assertTrue(math.isclose(got[name], value, rel_tol=1e-12), f"{where}: average {got[name]} != {value}")
            else:
                self.assertEqual(got[name], value, f"{where}: {name}")

    def test_rejects_a_window_that_is_not_positive(self):
        with self.assertRaises(ValueError):
            RollingAverages(0)


if __name__ == "__main__":
    unittest.main()
