"""The run folder and its formats: the file layout, the store, the lock, each job's status and rows, the prepared data and splits."""
