"""A run's physical units: energies in energy units, kT, joules and bits side by side; the conversions
live once (analogsim.bounds.units) and bounds uses them; a sweep's results carry them per point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import constants

from analogsim import bounds
from analogsim.bounds import units
from analogsim.data.config import parse_config
from analogsim.errors import ConfigError
from analogsim.sweeps.store import _with_units, build_dataset, energy_summary
from analogsim.sweeps.tasks import check_requirements, get_task
from analogsim.bounds.units import LN2, RunUnits, format_energy


def test_one_definition_shared_with_bounds():
    for name in ("K_B", "LN2", "T_ROOM", "Energy", "check_temperature", "kT_joules"):
        assert getattr(bounds, name) is getattr(units, name)
    assert units.K_B == constants.k and units.T_ROOM == 300.0


def test_default_is_room_temperature_and_energy_unit_follows():
    u = RunUnits.of(1e-6)
    assert u.source == "default" and u.temperature_K == 300.0
    assert u.energy_unit_J == pytest.approx(constants.k * 300.0 / 1e-6, rel=1e-15)
    r = u.report(5e-6)  # 5 kT
    assert r["kT"] == pytest.approx(5.0) and r["bits"] == pytest.approx(5.0 / LN2)
    assert r["J"] == pytest.approx(5.0 * constants.k * 300.0, rel=1e-12)  # 5 kT at 300 K, whatever kT's value


def test_fixed_substrate_gives_the_temperature():
    u = RunUnits.of(0.5, energy_unit_J=1e-20)
    assert u.temperature_K == pytest.approx(0.5 * 1e-20 / constants.k)
    assert constants.k * u.temperature_K == pytest.approx(u.kT * u.energy_unit_J)
    assert u.report(2.0)["J"] == pytest.approx(2e-20)


def test_kT_zero_and_bad_input():
    u = RunUnits.of(0.0)
    assert math.isnan(u.energy_unit_J) and math.isnan(u.report(1.0)["J"]) and "undefined" in u.note
    assert "n/a J" in format_energy("W", 1.0, u)
    assert RunUnits.of(0.0, energy_unit_J=1e-21).report(3.0)["J"] == pytest.approx(3e-21)
    with pytest.raises(ValueError, match="not both"):
        RunUnits.of(1.0, temperature_K=300, energy_unit_J=1e-21)
    with pytest.raises(ValueError, match="temperature_K"):
        RunUnits.of(1.0, temperature_K=-3)
    with pytest.raises(ValueError, match="kT"):
        RunUnits.of(-1.0)
    with pytest.raises(TypeError, match="energy_unit_J"):
        RunUnits.of(1.0, energy_unit_J="big")


def test_format_energy_four_ways():
    s = format_energy("W", 2e-6, RunUnits.of(1e-6, temperature_K=77))
    assert s.startswith("W = 2e-06 energy units = 2 kT = ") and s.endswith("2.885 bit")
    assert f"{2 * constants.k * 77:.4g} J" in s


def test_sweep_results_carry_joules_and_bits_per_point():
    text = ('[experiment]\nkind = "x:y"\n[dynamics]\nkT = 1e-6\n[units]\ntemperature_K = 77\n'
            '[sweep]\nwidth = [2, 4]\n')
    cfg = parse_config(text)
    recs = [(p, {"status": "ok", "results": {"work": 3e-6, "kT_mean": 1e-6}}) for p in cfg.points()]
    ds = build_dataset(cfg, recs)
    assert ds["temperature_K"].values.tolist() == [77.0, 77.0]
    assert ds["work_J"].values == pytest.approx(3 * constants.k * 77)
    assert ds["work_bits"].values == pytest.approx(3 / LN2)
    assert ds["work"].attrs["units"].startswith("energy units")
    line = energy_summary(ds)
    assert "3e-06 energy units = 3 kT" in line and "J = 4.328 bit (T = 77 K)" in line


def test_kT_sweep_with_a_fixed_substrate_varies_the_temperature():
    r1 = _with_units({"work": 1.0}, {"kT": 0.5, "energy_unit_J": 1e-20})
    r2 = _with_units({"work": 1.0}, {"kT": 1.0, "energy_unit_J": 1e-20})
    assert r1["work_J"] == r2["work_J"] == 1e-20  # the same energy on the same substrate
    assert r2["temperature_K"] == pytest.approx(2 * r1["temperature_K"])
    assert r2["work_bits"] == pytest.approx(r1["work_bits"] / 2)
    assert _with_units({"rel_error": 0.1}, {}) == {"rel_error": 0.1}  # no kT: nothing to convert


def test_config_refuses_both_units_before_running():
    cfg = parse_config('[experiment]\nkind = "equilibrium"\n[dynamics]\nkT = 0.1\n'
                       '[units]\ntemperature_K = 300\nenergy_unit_J = 1e-21\n')
    with pytest.raises(ConfigError, match="not both") as e:
        check_requirements(get_task("equilibrium"), cfg)
    assert e.value.path == "units.energy_unit_J"
    with pytest.raises(ConfigError, match="units.temperature_K"):
        parse_config('[experiment]\nkind = "equilibrium"\n[units]\ntemperature_K = -4\n')
    assert np.isfinite(RunUnits.of(0.1).energy_unit_J)



@settings(deadline=None, max_examples=60)
@given(kT=st.floats(1e-12, 1e3), T=st.floats(1e-3, 1e4), E=st.floats(-1e6, 1e6))
def test_conversions_are_consistent(kT, T, E):
    """J = E k_B T / kT; bits = (E / kT) / ln 2; T -> energy unit -> T round trip."""
    u = RunUnits.of(kT, temperature_K=T)
    r = u.report(E)
    assert r["J"] == pytest.approx(E * constants.k * T / kT, rel=1e-12, abs=1e-300)
    assert r["bits"] * LN2 == pytest.approx(r["kT"], rel=1e-12, abs=1e-300)
    back = RunUnits.of(kT, energy_unit_J=u.energy_unit_J)
    assert back.temperature_K == pytest.approx(T, rel=1e-12)


def test_an_unset_units_section_keeps_old_config_hashes():
    """Results folders written before [units] existed still resume: the section counts only when set."""
    base = '[experiment]\nkind = "equilibrium"\n[dynamics]\nkT = 0.1\n'
    a, b = parse_config(base), parse_config(base + "[units]\ntemperature_K = 300\n")
    assert "units" in a.normalized and a.hash != b.hash
    # the hash this config had in release 0.1.0, before [units] (and the [data] column keys) existed
    assert a.hash == "83553e7ba4d729f66dcf566e65c355c7660acd2375514c588c797a125d56df81"
