"""Orchestration: the replicated and global reconciles, the restart supervisor's decisions and
the task reaper, as pure functions over the store's objects."""
