"""Test helpers shared by the process-level suites (real worker subprocesses)."""
