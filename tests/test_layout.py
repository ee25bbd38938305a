"""The tree shows the data flow: every module imports only from its own stage or an earlier one,
and no two modules import each other, directly or through others."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Stages in the order data flows; a module may import from its own rank or a lower one.
STAGES: list[tuple[str, ...]] = [
    ("benchmark.core",),
    ("benchmark.data",),
    ("benchmark.model",),
    ("methods",),
    ("benchmark.train",),
    ("benchmark.evaluate",),
    ("benchmark.config",),
    ("benchmark.run",),
    ("benchmark.export",),
    ("benchmark.speed",),
    ("reports",),
    ("benchmark.calibration",),
    ("benchmark.cli",),
]

#: Within a stage of several folders, the same rule one level down: each part (a sub-folder, or a
#: module at the stage's top) imports only from its own part or an earlier one.
PARTS: dict[str, list[str]] = {
    "benchmark.run": ["plan", "folder", "handlers", "execute"],
    "reports": ["labels", "result", "read", "stats", "tables", "words", "render", "build"],
}

def rank(module: str) -> int:
    if module == "benchmark":  # the package's face: the user's entry point (load_results), above every stage
        return len(STAGES)
    best = None
    for index, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{module} belongs to no stage: add it to STAGES"
    return best[0]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules `path` imports anywhere in its body (lazy imports count too).

    `from a import b` imports module a.b when there is one, else a name from package a.
    """
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found & modules


def project_graph() -> dict[str, set[str]]:
    files = [p for package in ("benchmark", "methods", "reports") for p in (ROOT / package).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    return {name: imports(path, set(modules)) - {name} for name, path in modules.items()}


def test_no_module_imports_from_a_later_stage():
    upward = [f"{a} → {b}" for a, targets in project_graph().items() for b in targets
              if rank(b) > rank(a)]
    assert not upward, "imports from a later stage:\n" + "\n".join(sorted(upward))


def part_rank(stage: str, module: str) -> int:
    part = module[len(stage) + 1:].split(".")[0]
    assert part in PARTS[stage], f"{module} belongs to no part of {stage}: add it to PARTS"
    return PARTS[stage].index(part)


def test_within_a_stage_no_module_imports_from_a_later_part():
    """plan → the run folder → job handlers → execution; names and results → reading a run →
    statistics → tables → words → rendering → building the report."""
    upward = [f"{a} → {b}" for a, targets in project_graph().items() for b in targets
              for stage in PARTS if a.startswith(stage + ".") and b.startswith(stage + ".")
              and part_rank(stage, b) > part_rank(stage, a)]
    assert not upward, "imports from a later part:\n" + "\n".join(sorted(upward))


def test_every_harness_module_lives_in_its_stage_folder():
    """Only the package's face and the CLI sit at benchmark/'s top: everything else is in a stage's folder."""
    loose = sorted(p.name for p in (ROOT / "benchmark").glob("*.py"))
    assert loose == ["__init__.py", "cli.py"], loose


def test_no_import_cycles():
    graph = project_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                cycles.append(" → ".join(path[path.index(target):] + [target]) if target in path else target)
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_rank_table_catches_an_upward_import():
    assert rank("benchmark.train.loops") < rank("benchmark.evaluate.rows")
    assert rank("benchmark.run.folder.store") > rank("benchmark.evaluate.metrics")
    assert rank("benchmark.model.unet") < rank("methods.mae") < rank("benchmark.train.loops")


def test_the_readers_are_importable_from_the_data_package():
    from benchmark.data import load_dataset, load_unlabelled, synthetic_dataset
    from benchmark.data.readers import load_dataset as direct

    assert load_dataset is direct and callable(load_unlabelled) and callable(synthetic_dataset)
