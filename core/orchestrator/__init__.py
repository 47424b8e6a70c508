"""Orchestration: the replicated reconcile and the restart supervisor's decisions."""
