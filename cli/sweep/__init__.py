"""``shoal sim sweep``: one scenario over many seeds, in parallel.

- :mod:`cli.sweep.record`: the record of one seed (a JSONL line) and how two records
  of the same seed are compared;
- :mod:`cli.sweep.plan`: the work sent out: chunks of seeds, and the sample of seeds
  run a second time to check that a run depends on its seed only;
- :mod:`cli.sweep.chunk`: what a worker process runs: a chunk of seeds, the scenario
  parsed once per process from the YAML text shipped with the chunk;
- :mod:`cli.sweep.local`: chunks on local processes (multiprocessing);
- :mod:`cli.sweep.on_dask`: chunks on a Dask cluster (dask.distributed);
- :mod:`cli.sweep.summary`: the summary of the records (text or JSON);
- :mod:`cli.sweep.plot`: the distributions and pass rates as a PNG.

:mod:`cli.sim_sweep` is the command that puts them together.
"""
