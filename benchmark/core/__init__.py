"""The harness's core: its one error type, atomic files, text and option parsing, dataclass I/O, plug-in discovery, progress callbacks. Imports nothing else of the project."""
