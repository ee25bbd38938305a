"""The report's tables, computed from rows: Table I, data efficiency, controls, health, budgets, generalisation, evaluations."""
