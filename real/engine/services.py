"""(being written)"""

from __future__ import annotations

from real.engine.app import Routes

routes = Routes()
