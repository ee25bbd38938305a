"""The report's words: method and metric labels, the answer, the summary lines, how to read the numbers."""
