"""External test sets: other labelled datasets every fine-tuned model is also scored on.

They measure generalisation (a model fine-tuned on ARCADE, scored on another hospital's images) and
nothing else: no model is trained, selected or tuned on them. Each is named (`NAME=PATH`, or just
PATH, named after its folder); rows carry the name in `test_set`, the run's own test split is
`IN_DOMAIN`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.core.errors import BenchmarkError
from benchmark.core.text import USABLE_NAME

#: The `test_set` of the rows scored on the run's own test split.
IN_DOMAIN = "in-domain"


@dataclass(frozen=True)
class ExternalTestSource:
    """One external test set: the name its rows carry and the dataset folder it is read from."""

    name: str
    path: Path

    @property
    def entry(self) -> str:
        """How the config stores it: NAME=ABSOLUTE_PATH."""
        return f"{self.name}={self.path}"


def parse_external_test(entry: str, where: str = "--external-test", must_exist: bool = True) -> ExternalTestSource:
    """`NAME=PATH` or `PATH` (named after its last folder); the path must exist unless told otherwise
    (a finished run's config is still read, to export its models, after a set has moved)."""
    name, sep, rest = entry.partition("=")
    if sep and USABLE_NAME.match(name):
        path_text = rest
    else:
        path_text, name = entry, Path(entry).name
    if not path_text:
        raise BenchmarkError(f"{where} {entry!r}: no path given (write NAME=PATH or PATH)")
    path = Path(path_text).expanduser()
    if must_exist and not path.exists():
        raise BenchmarkError(f"{where} {entry!r}: {path} does not exist")
    if not USABLE_NAME.match(name):
        raise BenchmarkError(f"{where} {entry!r}: {name!r} is not a usable name; write NAME=PATH with "
                             "letters, digits, '.', '_' or '-'")
    if name == IN_DOMAIN:
        raise BenchmarkError(f"{where} {entry!r}: the name {IN_DOMAIN!r} is the run's own test split; "
                             "choose another with NAME=PATH")
    return ExternalTestSource(name, path.resolve())


def parse_external_tests(entries: tuple[str, ...] | list[str], source: str, where: str = "--external-test",
                         must_exist: bool = True) -> tuple[ExternalTestSource, ...]:
    """Every entry parsed; two sets of one name, a set named twice, or the run's own dataset
    (`source`) used as an external set is an error naming the entries."""
    parsed = tuple(parse_external_test(e, where, must_exist) for e in entries)
    seen: dict[str, ExternalTestSource] = {}
    own = Path(source).resolve() if source != "synthetic" else None
    for test in parsed:
        if test.name in seen:
            raise BenchmarkError(f"{where}: two external test sets are named {test.name!r} "
                                 f"({seen[test.name].path} and {test.path}); name them with NAME=PATH")
        if test.path in {t.path for t in seen.values()}:
            raise BenchmarkError(f"{where}: {test.path} is given twice")
        if own is not None and test.path == own:
            raise BenchmarkError(f"{where} {test.entry}: is the run's own dataset (--data), not an external one")
        seen[test.name] = test
    return parsed


@dataclass(frozen=True)
class ExternalTestRef:
    """What a score job records of an external set: its name and its content's fingerprint, so a
    model is scored on exactly the set the job was planned with."""

    name: str
    fingerprint: str
    images: int = 0  # how many labelled images it holds (for cost estimates; the fingerprint decides)
