"""The Docker Engine API (1.41) a shoal manager serves, real or simulated.

The HTTP layer only translates: a Docker request becomes a control API call (a
method and its parameters, the very calls ``shoal``'s own CLI makes), handed to a
:class:`~real.engine.backend.Backend` (a real daemon's driver, or a simulated swarm
behind ``shoal sim serve``); the reply becomes Docker's JSON, status code and error
body. Validation lives in the core's handlers alone.
"""
