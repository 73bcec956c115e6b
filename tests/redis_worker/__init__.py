"""Real worker subprocesses on Redis: reliability (issue 3)."""
