"""Test helpers: the services the tests talk to, and the process-level suites' subprocesses."""
