"""Rendering: the figures, the image galleries, the HTML page, the shared style, and `draw`, which draws a run's whole report afresh."""
