"""The dispatcher: agents' sessions and node liveness (assignments arrive next)."""
