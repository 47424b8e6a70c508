"""Planted rule-1 violation: makes a socket and opens a connection."""

import socket


def open_socket() -> socket.socket:
    return socket.socket()


def connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=0.001)
