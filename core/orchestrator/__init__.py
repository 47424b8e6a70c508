"""Orchestration: the replicated and global reconciles, the restart supervisor's decisions,
the task reaper and the constraint enforcer, as pure functions over the store's objects."""
