
import pytest

from benchmark.config.run_config import build_config, load_config
from benchmark.config.protocols import protocol_recipe
from benchmark.config.profiles import resolve_profile
from benchmark.core.errors import BenchmarkError
from benchmark.config.options import resolve_run_config
from methods import registry


def test_tiny_profile_selects_every_registered_method_and_their_protocol_recipes():
    for protocol in ("fair", "study"):
        config = build_config({"profile": "tiny", "protocol": protocol})
        assert set(config.methods) == set(registry())
        assert config.unet.base == 8 and config.protocol == protocol
        for name in config.methods:
            cls = registry()[name]
            if cls.pretrains:
                assert config.pretrain[name] == protocol_recipe(cls, "tiny", protocol)
            else:
                assert name not in config.pretrain


def test_auto_profile_follows_cuda():
    assert resolve_profile("auto", cuda_available=True) == "paper"
    assert resolve_profile("auto", cuda_available=False) == "tiny"


def test_written_config_reads_back_identical(tmp_path):
    config = build_config({"profile": "paper", "methods": ["supervised", "mae"], "seeds": [1, 2],
                           "pretrain": {"mae": {"epochs": 7}}, "method": {"mae": {"mask_ratio": 0.6}}})
    config.write(tmp_path / "config.toml")
    again = load_config(tmp_path / "config.toml")
    assert again == config
    assert again.pretrain["mae"].epochs == 7
    assert again.method_settings["mae"].mask_ratio == 0.6


def test_command_line_values_override_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('profile = "tiny"\nseeds = [5]\nratios = ["79:1"]\n[finetune]\nepochs = 3\n')
    config, _ = resolve_run_config(path, methods="supervised", seeds="0,1")
    assert config.seeds == (0, 1)
    assert [r.label for r in config.ratios] == ["79:1"]
    assert config.finetune.epochs == 3
    assert config.methods == ("supervised",)


@pytest.mark.parametrize(
    "table, message",
    [
        ({"methods": ["nope"]}, "unknown method 'nope'; known methods"),
        ({"seeds": []}, "no seeds"),
        ({"ratios": ["75:10"]}, "exceeds"),
        ({"ratios": ["79:0"]}, "fine-tuning share"),
        ({"finetune": {"epoch": 3}}, "unknown key 'epoch'"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"profile": "huge"}, "--profile 'huge'"),
        ({"finetune": {"epochs": "many"}}, "expected int"),
    ],
)
def test_bad_config_values_are_named(table, message):
    with pytest.raises(BenchmarkError, match=message):
        build_config(table)


def test_config_file_that_does_not_parse_is_named(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("profile = \n")
    with pytest.raises(BenchmarkError, match="broken.toml"):
        resolve_run_config(path)


def test_missing_data_path_is_named():
    with pytest.raises(BenchmarkError, match="--data /no/such/place"):
        resolve_run_config(data="/no/such/place")


def test_empty_seeds_option_is_refused():
    with pytest.raises(BenchmarkError, match="--seeds"):
        resolve_run_config(seeds="")


def test_every_methods_settings_survive_the_toml_round_trip(tmp_path):
    for profile in ("tiny", "paper"):
        config = build_config({"profile": profile})
        config.write(tmp_path / "config.toml")
        assert load_config(tmp_path / "config.toml") == config
