"""Planning a run: the job graph, each job's identity, and contenders whose weights come from outside the run."""
