"""The real transport: TCP with mutual TLS between daemons, frames of the codec the
simulator uses (sim/network.py is its simulated twin)."""

from real.transport.frames import MAX_FRAME, FrameError
from real.transport.join import JoinError, fetch_root, request_join
from real.transport.link import LinkConfig
from real.transport.policy import may_receive, refusal
from real.transport.transport import Transport, TransportConfig

__all__ = [
    "MAX_FRAME",
    "FrameError",
    "JoinError",
    "LinkConfig",
    "Transport",
    "TransportConfig",
    "fetch_root",
    "may_receive",
    "refusal",
    "request_join",
]
