"""Every `angiobench` command the README shows names a real command and only options that command
takes, so a newcomer who copies one gets a run, not a usage error (the commands that train are run
by other tests: the default run, the first try and the small profile's jobs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer

from benchmark.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    """Each `angiobench …` command of the README's code blocks and its commands table (the table's
    optional parts [in brackets] opened up, its alternatives `a\\|b` taken as written first)."""
    text = README.read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        found += [line.split("#")[0].strip() for line in block.splitlines() if line.strip().startswith("angiobench")]
    for cell in re.findall(r"^\| `(angiobench [^`]*)`", text, re.M):
        for command in cell.split("` / `"):
            found.append(command.replace("\\|", "|").replace("[", "").replace("]", "").replace("...", ""))
    return found


def command_of(words: list[str]) -> tuple[object, list[str]]:
    """The command the words name (groups followed: typer's click has no public Group type to check,
    so a group is what has sub-commands), and the words after it."""
    command = typer.main.get_command(app)
    rest = words[1:]
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def test_the_readme_shows_the_main_commands():
    commands = readme_commands()
    assert "angiobench run" in commands
    assert {shlex.split(c)[1] for c in commands} >= {"run", "plan", "status", "report", "calibrate", "methods", "data",
                                                     "export", "predict", "finetune", "speed"}


def test_every_readme_command_names_a_real_command_and_its_own_options():
    for line in readme_commands():
        command, rest = command_of(shlex.split(line))
        assert not hasattr(command, "commands"), f"{line!r}: names a group, not a command"
        known = {name for param in command.params for name in param.opts}
        options = [word.split("=")[0] for word in rest if word.startswith("--")]
        unknown = [option for option in options if option not in known]
        assert not unknown, f"{line!r}: {command.name} takes no {unknown[0]}"


def test_the_check_finds_a_misspelt_option_and_a_missing_command():
    command, _ = command_of(shlex.split("angiobench run --method mae"))
    assert command.name == "run" and "--method" not in {name for param in command.params for name in param.opts}
    assert hasattr(command_of(shlex.split("angiobench methods lst"))[0], "commands")
