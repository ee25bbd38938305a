"""The command line: one-line errors with a non-zero exit, and nothing written on bad input."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from conftest import write_tiny_config

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _assert_one_line_error(result, *fragments):
    assert result.exit_code != 0
    text = result.output.strip()
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, text


@pytest.mark.parametrize(
    "options, fragments",
    [
        (["--methods", "supervised,nope"], ["unknown method 'nope'", "known methods:", "mae"]),
        (["--ratios", "75:10"], ["ratio 75:10", "exceeds"]),
        (["--ratios", "79:120"], ["not in 0–100"]),
        (["--seeds", ""], ["--seeds"]),
        (["--seeds", "a,b"], ["--seeds", "integers"]),
        (["--devices", "7"], ["--devices 7", "GPU 7 does not exist"]),
        (["--data", "/no/such/folder"], ["--data /no/such/folder"]),
        (["--profile", "huge"], ["--profile 'huge'"]),
        (["--executor", "cloud"], ["--executor 'cloud'"]),
    ],
)
def test_bad_run_options_give_one_line_and_write_nothing(tmp_path, options, fragments):
    out = tmp_path / "run"
    result = _run("run", "--config", write_tiny_config(tmp_path), "--out", out, *options)
    _assert_one_line_error(result, *fragments)
    assert not out.exists()


def test_config_file_that_does_not_parse_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seeds = [0,\n")
    _assert_one_line_error(_run("run", "--config", bad, "--out", tmp_path / "run"), "bad.toml", "TOML")


def test_config_file_with_an_unknown_key_names_it(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[finetune]\nepochz = 3\n')
    _assert_one_line_error(_run("run", "--config", bad, "--out", tmp_path / "run"), "unknown key 'epochz'")


def test_slurm_without_submitit_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    result = _run("run", "--config", write_tiny_config(tmp_path), "--executor", "slurm", "--out", tmp_path / "run")
    _assert_one_line_error(result, "pip install submitit")
    assert not (tmp_path / "run").exists()


def test_a_submission_sbatch_refuses_is_one_line_naming_the_option_and_leaves_no_folder(tmp_path, monkeypatch):
    """A one-node cluster without GPUs refuses the default --slurm-gpus-per-job 1: sbatch's words,
    the option to change, exit 1, and no run folder (the refusal comes before any job ran)."""
    import submitit

    from benchmark.run.execute import slurm

    class RefusingExecutor:
        def __init__(self, folder, cluster):
            Path(folder).mkdir(parents=True, exist_ok=True)  # as submitit makes its log folder

        def update_parameters(self, **params):
            pass

        def submit(self, *args):
            raise submitit.core.utils.FailedJobError(
                "Could not make sbatch call.\nsbatch: error: Invalid generic resource (gres) specification")

    monkeypatch.setattr(slurm, "check_controller", lambda: None)
    monkeypatch.setattr(slurm, "check_gpus", lambda partition, gpus: None)  # as if sinfo could not tell
    monkeypatch.setattr(submitit, "AutoExecutor", RefusingExecutor)
    result = _run("run", "--config", write_tiny_config(tmp_path), "--executor", "slurm", "--out", tmp_path / "run")
    _assert_one_line_error(result, "sbatch refused the job (Invalid generic resource (gres) specification); "
                                   "the nodes have no GPUs of that kind or count: --slurm-gpus-per-job 0")
    assert not (tmp_path / "run").exists()


def test_refusal_messages_point_at_the_option_behind_them():
    from benchmark.run.execute.slurm import refusal_message
    assert refusal_message("sbatch: error: invalid partition specified: gpu").endswith("`sinfo` lists")
    assert "no reason given" in refusal_message("")
    assert refusal_message("something odd").endswith("(something odd); check the --slurm-* options")


def test_finetune_writes_rows_and_a_summary(tmp_path):
    path = write_tiny_config(tmp_path)
    out = tmp_path / "ft"
    result = _run("finetune", "--config", path, "--profile", "tiny", "--ft-ratio", "20", "--seed", "0", "--out", out)
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(out / "rows.parquet")
    assert len(rows) == 10 and set(rows["method"]) == {"supervised"}
    assert {"dice", "cldice", "iou", "hd", "add", "diameter_pred", "diameter_gt", "image_id", "seed"} <= set(rows.columns)
    assert "dice" in result.output


def test_finetune_ratio_out_of_range_is_refused(tmp_path):
    _assert_one_line_error(_run("finetune", "--ft-ratio", "150", "--out", tmp_path / "ft"), "--ft-ratio 150")


def test_status_of_a_foreign_folder_is_a_clear_error(tmp_path):
    _assert_one_line_error(_run("status", tmp_path), "not an angiobench run folder")


def test_data_synth_then_inspect(tmp_path):
    result = _run("data", "synth", tmp_path / "synth", "--n", "3", "--size", "64", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "synth" / "imgs").iterdir())) == 3
    report = _run("data", "inspect", tmp_path / "synth")
    assert report.exit_code == 0, report.output
    assert "3" in report.output


def test_data_inspect_of_a_missing_path_fails(tmp_path):
    result = _run("data", "inspect", tmp_path / "nothing")
    assert result.exit_code != 0 and "nothing" in result.output


def test_methods_check_reports_each_contract_check():
    result = _run("methods", "check", "supervised")
    assert result.exit_code == 0 and "transferred UNet loads strictly" in result.output
    _assert_one_line_error(_run("methods", "check", "nope"), "unknown method 'nope'")


def test_methods_list_counts_parameters_at_the_chosen_profile():
    result = _run("methods", "list", "--profile", "tiny")
    assert result.exit_code == 0, result.output
    assert "tiny profile: 64-px images, parameters at UNet base width 8" in result.output
    assert "0.49" in result.output and "31.04" not in result.output  # the tiny UNet, not the paper's


def test_unknown_method_gets_a_did_you_mean():
    _assert_one_line_error(_run("methods", "check", "maee"), "unknown method 'maee' (did you mean 'mae'?)")
    _assert_one_line_error(_run("plan", "--methods", "supervised,vasomin"), "(did you mean 'vasomim'?)")


def test_an_empty_data_folder_is_named_as_empty_before_any_progress_bar(tmp_path):
    (tmp_path / "data" / "imgs").mkdir(parents=True)
    result = _run("run", "--data", tmp_path / "data", "--out", tmp_path / "run")
    _assert_one_line_error(result, f"--data {tmp_path / 'data'}: the folder is empty")
    assert result.output.strip().count("\n") <= 1 and not (tmp_path / "run").exists()


def _commands(command, path=()):
    """(path, command) of every leaf command of the app."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, (*path, name))


def test_every_option_has_a_help_text_and_no_type_noise():
    import typer.main

    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"angiobench {' '.join(path)} {param.opts[0]} has no help text"
                assert param.metavar is not None and "<" not in param.metavar, (path, param.opts)
    text = _run("run", "--help").output
    assert "<bool>" not in text and "<str>" not in text and "--force" in text


def test_calibrate_help_shows_the_grid_tables_by_name():
    assert "[[setting]]" in _run("calibrate", "--help").output


def test_importing_the_command_line_imports_neither_torch_nor_pandas():
    code = "import sys, benchmark.cli; print(sorted(m for m in ('torch', 'pandas', 'methods') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_speed_metrics_alone_writes_a_report_without_training_rows(tmp_path, monkeypatch):
    from benchmark.speed import measure
    from benchmark.speed.report import load_speed_json

    monkeypatch.setattr(measure, "measure_speed", lambda *a, **k: pytest.fail("--metrics alone trained"))
    result = _run("speed", "--metrics", "--json", tmp_path / "speed.json")
    assert result.exit_code == 0, result.output
    report = load_speed_json(tmp_path / "speed.json")
    assert report.rows == () and [m.metric for m in report.metrics] == ["dice", "iou", "cldice", "hd", "add", "all"]
    assert all(m.agree for m in report.metrics) and "speed-up" in result.output
    _assert_one_line_error(_run("speed", "--no-training"), "--no-training", "--metrics")


def test_gpus_a_partition_lacks_are_found_from_sinfo_before_anything_is_submitted():
    from benchmark.run.execute.slurm import gpu_shortage
    cpu_only = "debug*|(null)\n"
    assert "--slurm-gpus-per-job 1: partition debug has no GPUs (sinfo lists its GRES as (null)); pass " \
           "--slurm-gpus-per-job 0" in gpu_shortage(cpu_only, "", 1)
    assert gpu_shortage(cpu_only, "", 0) is None
    mixed = "cpu*|(null)\ngpu|gpu:a100:4(S:0-1)\n"
    assert gpu_shortage(mixed, "gpu", 1) is None and gpu_shortage(mixed, "", 2).startswith("--slurm-gpus-per-job 2")
    assert gpu_shortage(mixed, "big", 1).startswith("--slurm-partition big: sinfo lists no such partition")
    assert gpu_shortage("", "", 1) is None  # sinfo said nothing: sbatch will say it
