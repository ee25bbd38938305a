"""A run's configuration: the profiles (each defined once), the protocols' recipes, the run's dataclass, and options resolved from the command line."""
