"""Typed YAML configs: unknown keys and wrong types fail, overrides apply in order."""

import pytest

from rnastruct.config import load_config
from rnastruct.datagen import GenerateConfig
from rnastruct.seqio import InputError


def test_layers_apply_in_order(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("length: '20-200'\nnum_seq: 10\nchroms: [chr2, chr3]\nens_div: false\n")
    cfg = load_config(GenerateConfig, f, {"num_seq": 20}, ["seed=7", "valid_frac=0.1"])
    assert (cfg.length, cfg.num_seq, cfg.seed, cfg.valid_frac) == ("20-200", 20, 7, 0.1)
    assert cfg.chroms == ["chr2", "chr3"] and cfg.ens_div is False
    assert cfg.length_range() == (20, 200)


@pytest.mark.parametrize("text, message", [
    ("num_sq: 3\n", "unknown key\\(s\\) num_sq"),
    ("num_seq: 2.5\n", "num_seq must be int"),
    ("ens_div: maybe\n", "ens_div must be bool"),
    ("- a\n- b\n", "expected a mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_config_files(tmp_path, text, message):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(InputError, match=message):
        load_config(GenerateConfig, f)


def test_bad_set_overrides():
    with pytest.raises(InputError, match="expected key=value"):
        load_config(GenerateConfig, None, None, ["seed"])
    with pytest.raises(InputError, match="seed must be int"):
        load_config(GenerateConfig, None, None, ["seed=abc"])
    with pytest.raises(InputError, match="no such config file"):
        load_config(GenerateConfig, "/nonexistent.yaml")


def test_length_aware_threshold():
    cfg = GenerateConfig(min_mfe_freq=0.1, mfe_freq_ref_length=64)
    assert cfg.threshold(64) == pytest.approx(0.1)
    assert cfg.threshold(128) == pytest.approx(0.01)
    assert GenerateConfig(min_mfe_freq=0.1).threshold(200) == 0.1
