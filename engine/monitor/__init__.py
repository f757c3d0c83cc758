"""Run monitoring: the sampler that measures a running run, and views of runs' measures and history."""
