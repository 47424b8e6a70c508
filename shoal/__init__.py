"""shoal's public Python API for users' own tests (:mod:`shoal.testing`); the
engine lives in ``core``, ``sim``, ``real`` and ``cli``."""
