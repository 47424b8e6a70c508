"""Rolling updates and rollbacks (SwarmKit's ``orchestrator/update``)."""
