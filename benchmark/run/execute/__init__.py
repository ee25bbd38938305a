"""Executing a run: the runner, the dependency queue, the executors (local, persistent workers, SLURM), the worker process and the tracking sinks."""
