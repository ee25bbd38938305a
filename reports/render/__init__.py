"""Rendering: figures, galleries, tables as Markdown/LaTeX/HTML/CSV, the HTML page, the shared style."""
