"""The dispatcher: node liveness and what each node's agent is assigned."""
