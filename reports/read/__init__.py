"""Reading a run folder for a report: its contents, read once, and where the run stands."""
