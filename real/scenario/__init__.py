"""``shoal real run``: the scenario runner of ``shoal sim run`` against real daemons."""
