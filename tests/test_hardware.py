"""CPU detection and the precision defaults that follow from it."""

from benchmark.train.hardware import has_native_bf16, native_cpu_bf16, parse_cpuinfo
from benchmark.train.device import DeviceOptions

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile
"""


def test_cpuinfo_gives_the_first_processors_model_and_flags():
    model, flags = parse_cpuinfo(CPUINFO)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx2", "amx_bf16", "avx512_bf16"} <= flags and "processor" not in flags


def test_native_bf16_needs_amx_or_avx512_bf16():
    assert has_native_bf16(frozenset({"avx2", "avx512_bf16"}))
    assert has_native_bf16(frozenset({"amx_bf16"}))
    assert not has_native_bf16(frozenset({"avx2", "avx512f", "fma"}))  # bf16 would be emulated
    assert not has_native_bf16(parse_cpuinfo("")[1])


def test_cpu_training_precision_follows_the_cpu_unless_set():
    auto = DeviceOptions(device="cpu")
    assert auto.use_bf16 == native_cpu_bf16() and auto.use_channels_last == auto.use_bf16
    assert auto.precision == ("bf16" if native_cpu_bf16() else "fp32")
    forced = DeviceOptions(device="cpu", bf16=False)
    assert (forced.use_bf16, forced.use_channels_last, forced.precision) == (False, False, "fp32")
    assert DeviceOptions(device="cpu", bf16=True, channels_last=False).use_channels_last is False
