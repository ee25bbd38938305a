"""Running a grid: the typed jobs, the run folder (store and file layout), the prepared run data,
the executors, the dependency queue, the worker and the runner that ties them together."""
