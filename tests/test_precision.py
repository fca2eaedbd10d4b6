"""``--precision``: what ``auto`` picks on each kind of machine, and that a run records
what it used. The runs in each precision are tests/test_train.py's."""

from __future__ import annotations

import json

import pytest

from modelkit import precision
from modelkit.config import TrainConfig
from modelkit.precision import choose_precision, cpu_flags

XEON_AMX = frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
ZEN4 = frozenset({"avx512f", "avx512_bf16"})
OLD_CPU = frozenset({"avx2", "fma"})


@pytest.mark.parametrize(("gpus", "flags", "expected"), [
    ([], XEON_AMX, "bfloat16"),
    ([], ZEN4, "bfloat16"),
    ([], OLD_CPU, "float32"),
    ([], frozenset(), "float32"),
    ([(9, 0)], OLD_CPU, "bfloat16"),     # H100
    ([(8, 0)], OLD_CPU, "bfloat16"),     # A100
    ([(7, 5)], XEON_AMX, "float16"),     # T4: the GPU trains, so its rule wins
    ([(8, 6), (7, 0)], OLD_CPU, "float16"),  # the oldest GPU decides
])
def test_auto_picks_what_the_machine_has_units_for(gpus, flags, expected):
    chosen = choose_precision("auto", gpus=gpus, flags=flags)
    assert chosen.name == expected
    assert chosen.reason.startswith("auto: ")
    assert chosen.policy == {"float32": "float32", "bfloat16": "mixed_bfloat16",
                             "float16": "mixed_float16"}[expected]


def test_auto_says_why_in_words_a_user_can_check():
    assert "amx_bf16 and avx512_bf16" in choose_precision("auto", gpus=[], flags=XEON_AMX).reason
    assert "neither amx_bf16 nor avx512_bf16" in choose_precision("auto", gpus=[], flags=OLD_CPU).reason
    assert "compute capability 7.5" in choose_precision("auto", gpus=[(7, 5)], flags=OLD_CPU).reason



@pytest.mark.parametrize("backbone", ["mobilenet_v3_small", "efficientnet_b0"])
def test_auto_keeps_depthwise_backbones_in_float32_on_a_cpu_only(backbone):
    """Their bfloat16 steps ran at about 0.65x of float32 on this CPU (BENCHMARKS §18);
    a GPU's tensor cores still get the mixed policy."""
    on_cpu = choose_precision("auto", gpus=[], flags=ZEN4, backbone=backbone)
    assert on_cpu.name == "float32"
    assert f"{backbone}'s depthwise convolutions" in on_cpu.reason
    assert choose_precision("auto", gpus=[(9, 0)], flags=ZEN4, backbone=backbone).name == "bfloat16"
    assert choose_precision("auto", gpus=[], flags=ZEN4, backbone="small_cnn").name == "bfloat16"
    assert choose_precision("bfloat16", gpus=[], flags=ZEN4, backbone=backbone).name == "bfloat16"


def test_the_train_page_says_which_backbones_auto_keeps_in_float32(monkeypatch):
    from modelkit.runs import devices

    monkeypatch.setattr(devices, "cpu_flags", lambda: ZEN4)
    said = devices.auto_precision("CPU")
    assert said["name"] == "bfloat16"
    assert said["exceptions"].startswith("For efficientnet_b0 and mobilenet_v3_small it picks float32")
    monkeypatch.setattr(devices, "cpu_flags", lambda: OLD_CPU)
    assert devices.auto_precision("CPU")["exceptions"] == ""

def test_an_explicit_precision_wins_over_the_machine():
    chosen = choose_precision("float32", gpus=[(9, 0)], flags=XEON_AMX)
    assert (chosen.name, chosen.reason) == ("float32", "asked for float32 (on the GPU)")


def test_an_unknown_precision_is_refused_at_the_door():
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16, float16"):
        TrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("half", gpus=[], flags=ZEN4)


def test_cpu_flags_come_from_cpuinfo_and_a_missing_file_means_none(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\n"
                       "flags\t\t: fpu avx2 avx512f avx512_bf16\n\nprocessor\t: 1\n"
                       "flags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert cpu_flags(cpuinfo) == frozenset({"fpu", "avx2", "avx512f", "avx512_bf16"})
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_precision_is_a_train_setting_with_auto_as_default():
    assert TrainConfig().precision == "auto"
    config = TrainConfig(precision="bfloat16")
    assert TrainConfig.from_dict(config.to_dict() | {"precision_used": "bfloat16",
                                                     "precision_reason": "asked for"}) == config


@pytest.mark.slow
def test_auto_on_a_cpu_without_bfloat16_units_trains_in_float32(tmp_path, monkeypatch, capsys):
    """The simulated old CPU: no GPU and no amx/avx512_bf16 flag. The run's config.json
    keeps the setting (auto) and records what it used and why; train.log says it."""
    from modelkit.training.fit import train

    monkeypatch.setattr(precision, "cpu_flags", lambda: OLD_CPU)
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [])
    run = train(TrainConfig(source="synthetic", limit=48, image_size=32, epochs=1,
                            batch_size=16, augment=False),
                run_dir=tmp_path / "run", verbose=0)
    saved = json.loads((run / "config.json").read_text())
    assert (saved["precision"], saved["precision_used"]) == ("auto", "float32")
    assert "neither amx_bf16 nor avx512_bf16" in saved["precision_reason"]
    assert "precision: float32 (auto: this CPU has neither" in capsys.readouterr().out
