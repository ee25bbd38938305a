"""Running a grid, in the order a run goes: plan/ (the job graph), folder/ (the run folder and its formats), handlers/ (one per job kind) and execute/ (runner, queue, executors, worker)."""
