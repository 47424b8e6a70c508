"""Test hosts: network namespaces on one machine, each with its own dockerd and shoal
daemon (the real-mode mirror of the simulator's hosts).

Start with :class:`real.testhosts.hosts.TestHosts`; :mod:`real.testhosts.sweep` removes
what crashed runs left behind.
"""
