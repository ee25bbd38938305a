"""The report's words: the answer (its first section), the summary lines the command line prints, how to read the numbers."""
