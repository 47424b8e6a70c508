"""Nemeses, fault schedules and the graphs partitions are made of."""
