"""Orchestration: the restart supervisor's decisions (orchestrators arrive next)."""
