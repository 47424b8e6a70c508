"""Tools for testing your own assumptions about Docker Swarm against shoal's
simulated swarm: :class:`SimSwarm` (a swarm a test drives step by step, written
down as a replayable scenario), Hypothesis strategies for clusters, services and
fault schedules, a whole-swarm state machine, and pytest fixtures."""

from shoal.testing.machine import SwarmMachine
from shoal.testing.swarm import SimSwarm, SwarmFailure

__all__ = ["SimSwarm", "SwarmFailure", "SwarmMachine"]
