"""The data plane as the core computes it: which node programs what, for each overlay network."""
