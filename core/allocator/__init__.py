"""The allocator: ingress published ports, subnets, service VIPs and task addresses,
and the move of new tasks to PENDING."""
