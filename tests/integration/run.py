#!/usr/bin/env python3
"""Runs every tests/integration/test_*.py with unittest, prints one line
per test and ends with "N passed, M failed[, K skipped]".  Exit status 0
only when nothing failed.  Arguments, if any, are test name patterns
(unittest -k)."""

import os
import sys
import time
import unittest

sys.dont_write_bytecode = True  # keep the source tree (and dist) clean

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class Result(unittest.TextTestResult):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.passed = 0
        self.failed_ids = []
        self._start = {}

    def startTest(self, test):
        self._start[test] = time.monotonic()
        super().startTest(test)

    def _line(self, test, what):
        took = time.monotonic() - self._start.get(test, time.monotonic())
        self.stream.write("%-6s %s (%.2fs)\n" % (what, test.id(), took))
        self.stream.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line(test, "PASS")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.failed_ids.append(test.id())
        self._line(test, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self.failed_ids.append(getattr(test, "id", lambda: str(test))())
        self._line(test, "ERROR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, "SKIP")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line(test, "XFAIL")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.failed_ids.append(test.id())
        self._line(test, "XPASS")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.failed_ids.append(test.id())
            self._line(subtest, "FAIL")


def main(argv):
    loader = unittest.TestLoader()
    if argv:
        loader.testNamePatterns = ["*%s*" % a for a in argv]
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=0,
                                     resultclass=Result)
    start = time.monotonic()
    result = runner.run(suite)
    # A test with failing subtests counts once as failed.
    failed = len(set(result.failed_ids))
    passed = result.testsRun - failed - len(result.skipped)
    line = "%d passed, %d failed" % (max(passed, 0), failed)
    if result.skipped:
        line += ", %d skipped" % len(result.skipped)
    print("integration suite took %.1fs" % (time.monotonic() - start))
    print(line)
    return 0 if failed == 0 and result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
