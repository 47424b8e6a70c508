"""``shoal fidelity``: one scenario and seed in simulation and for real, compared.

- :mod:`cli.fidelity.images`: the scenario's images mapped to the two test hosts
  have, so that both runs run the same scenario;
- :mod:`cli.fidelity.compare`: the rules by which two runs' verdicts and measures
  agree, per seed and over seeds;
- :mod:`cli.fidelity.table`: the comparison as tables, or JSON;
- :mod:`cli.fidelity.plot`: sim against real per measure as a PNG.

:mod:`cli.fidelity_cmd` is the command that puts them together.
"""
