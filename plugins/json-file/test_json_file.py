import unittest

from json_file import ConfigError, FAIL, PASS, WARN, Settings, judge, parse_duration


def settings(**config):
    return Settings.from_config(config.get, list(config))


class JudgeTest(unittest.TestCase):
    def test_fresh_file_with_expected_values_passes(self):
        s = settings(path="/s.json", max_age="1h", **{"expect.last_run.ok": "true"})
        v = judge(s, '{"last_run": {"ok": true}}', 60)
        self.assertEqual(v.status, PASS, v.output)

    def test_stale_file_fails_and_aging_one_warns(self):
        s = settings(path="/s.json", max_age="1h", warn_age="30m")
        self.assertEqual(judge(s, "{}", 4000).status, FAIL)
        self.assertEqual(judge(s, "{}", 2000).status, WARN)
        self.assertEqual(judge(s, "{}", 60).status, PASS)

    def test_numeric_field_against_thresholds(self):
        s = settings(path="/q.json", field="queue.depth", warn_above="100", fail_above="1000")
        self.assertEqual(judge(s, '{"queue": {"depth": 5}}', 1).status, PASS)
        self.assertEqual(judge(s, '{"queue": {"depth": 500}}', 1).status, WARN)
        v = judge(s, '{"queue": {"depth": 5000}}', 1)
        self.assertEqual(v.status, FAIL)
        self.assertEqual(v.observed, (5000.0, ""))
        self.assertIn("queue.depth 5000 above 1000", v.output)

    def test_missing_or_wrong_values_fail_with_the_path_named(self):
        s = settings(path="/s.json", **{"expect.state": "ok"}, field="n")
        self.assertIn("state is missing", judge(s, '{"n": 1}', 1).output)
        self.assertIn("state is degraded, expected ok", judge(s, '{"state": "degraded", "n": 1}', 1).output)
        self.assertIn("not a number", judge(s, '{"state": "ok", "n": "x"}', 1).output)
        self.assertEqual(judge(s, "not json", 1).status, FAIL)

    def test_bad_config_names_the_key(self):
        with self.assertRaisesRegex(ConfigError, "`path`"):
            settings()
        with self.assertRaisesRegex(ConfigError, "`max_age`"):
            settings(path="/x", max_age="soon")
        with self.assertRaisesRegex(ConfigError, "needs `field`"):
            settings(path="/x", fail_above="3")
        self.assertEqual(parse_duration("k", "15m"), 900)


if __name__ == "__main__":
    unittest.main()
