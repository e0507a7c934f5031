"""Experiment configs: parsing, validation with paths, grid expansion, seeds and hashes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analogsim.data.config import load_config, parse_config
from analogsim.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

BASE = """
[experiment]
kind = "equilibrium"
seed = 7
[dynamics]
kT = 0.1
"""


def cfg(text: str = "", base: str = BASE):
    return parse_config(base + text)


def err(text: str, base: str = BASE) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(base + text)
    return info.value


# ----------------------------------------------------------------------------- valid configs
def test_grid_axes_in_file_order_and_c_order_points():
    c = cfg('[sweep]\nkT = [0.1, 0.2]\nwidth = [4, 8, 16]\nseed = {start = 0, stop = 2}\n')
    assert list(c.axes) == ["kT", "width", "seed"]
    assert c.shape == (2, 3, 2) and c.n_points == 12
    pts = c.points()
    assert [p.index for p in pts] == list(range(12))
    assert pts[0].coords == {"kT": 0.1, "width": 4, "seed": 0}
    assert pts[1].coords == {"kT": 0.1, "width": 4, "seed": 1}  # last axis fastest
    assert pts[-1].coords == {"kT": 0.2, "width": 16, "seed": 1}
    assert c.params(pts[-1])["width"] == 16 and c.params(pts[-1])["n_in"] == 4  # defaults filled in


def test_ranges():
    c = cfg('[sweep]\nkT = {start = 1e-4, stop = 1e-1, num = 4, scale = "log"}\n'
            'width = {start = 4, stop = 64, num = 5, scale = "log"}\n'
            'presentations = {start = 100, stop = 400, step = 100}\n'
            'n_train = {start = 10, stop = 30, num = 3}\nseed = {start = 2, stop = 5}\n')
    assert c.axes["kT"] == [1e-4, 1e-3, 1e-2, 1e-1]  # exact decimal values, no 0.0010000000000000002
    assert c.axes["width"] == [4, 8, 16, 32, 64]
    assert c.axes["presentations"] == [100, 200, 300]  # step: stop excluded, like range()
    assert c.axes["n_train"] == [10, 20, 30]  # num: endpoints included
    assert c.axes["seed"] == [2, 3, 4]
    assert all(isinstance(v, int) for v in c.axes["width"] + c.axes["seed"])


def test_task_section_is_free_form_and_sweepable():
    c = cfg('[task]\nsleep = 0.5\nlabel = "x"\n[sweep]\nsleep = [0.1, 0.2]\n')
    assert c.settings["label"] == "x"
    assert [c.params(p)["sleep"] for p in c.points()] == [0.1, 0.2]


def test_name_defaults_to_file_stem(tmp_path):
    p = tmp_path / "my_run.toml"
    p.write_text(BASE)
    assert load_config(p).name == "my_run"
    assert load_config(p).n_points == 1  # no [sweep]: one point


# ----------------------------------------------------------------------------- seeds and hashes
def test_point_seeds_stable_distinct_and_order_free():
    a = cfg('[sweep]\nkT = [0.1, 0.2]\nwidth = [4, 8]\n')
    b = cfg('[sweep]\nwidth = [8, 4]\nkT = [0.2, 0.1]\n')
    sa = {tuple(sorted(p.coords.items())): p.seed for p in a.points()}
    sb = {tuple(sorted(p.coords.items())): p.seed for p in b.points()}
    assert sa == sb  # a point's seed depends on its coordinates, not on the grid's layout
    assert len(set(sa.values())) == 4
    assert all(0 <= s < 2 ** 63 for s in sa.values())
    c = cfg('[sweep]\nkT = [0.1, 0.2]\nwidth = [4, 8]\n', base=BASE.replace("seed = 7", "seed = 8"))
    assert {p.seed for p in c.points()}.isdisjoint(sa.values())


def test_point_seed_pinned_value():
    # pinned: a change here changes the numbers of every stored sweep (and breaks resuming them)
    p = cfg('[sweep]\nkT = [0.5]\nseed = [0]\n').points()[0]
    assert (p.key, p.seed) == ("b6ad05a7f0542a58", 4154718868830173429)


def test_seed_from_shares_random_numbers_along_an_axis():
    c = cfg('[sweep]\nkT = [0.1, 0.2, 0.3]\nseed = [0, 1]\n',
            base=BASE.replace('kind = "equilibrium"', 'kind = "equilibrium"\nseed_from = ["seed"]'))
    by_rep = {}
    for p in c.points():
        by_rep.setdefault(p.coords["seed"], set()).add(p.seed)
    assert all(len(s) == 1 for s in by_rep.values()) and by_rep[0] != by_rep[1]


def test_hash_ignores_layout_but_not_values():
    a = cfg('[sweep]\nkT = [0.1, 0.2]\n')
    b = parse_config("# a comment\n" + BASE.replace("kT = 0.1", "kT   =   0.1   # same") + '[sweep]\nkT=[0.1,0.2]')
    c = cfg('[sweep]\nkT = [0.1, 0.3]\n')
    assert a.hash == b.hash != c.hash


# ----------------------------------------------------------------------------- errors, one per rule
def test_malformed_toml():
    e = err("[sweep\nkT = [1]\n")
    assert "invalid TOML" in str(e) and "line" in str(e)


def test_impossible_value_in_sweep_named_with_index():
    e = err("[sweep]\nkT = [0.1, 0.2, -1]\n")
    assert e.path == "sweep.kT[2]"
    assert str(e) == "sweep.kT[2]: must be >= 0, got -1"


@pytest.mark.parametrize("text, path, words", [
    ("[netwrk]\nwidth = 3\n", "netwrk", "did you mean 'network'"),
    ("[network]\nwidht = 3\n", "network.widht", "did you mean 'width'"),
    ('[network]\nwidth = "16"\n', "network.width", "must be an integer"),
    ("[network]\nwidth = 16.0\n", "network.width", "must be an integer"),
    ("[network]\nwidth = true\n", "network.width", "must be an integer"),
    ("[network]\nwidth = 0\n", "network.width", ">= 1"),
    ("[network]\nkappa = 0\n", "network.kappa", "> 0"),
    ('[network]\nactivation = "swish"\n', "network.activation", "must be one of"),
    ('[training]\nmu = "fast"\n', "training.mu", "must be a number"),
    ("[network]\nsizes = [4, 0, 1]\n", "network.sizes[1]", "positive integer"),
    ("[network]\nsizes = [4]\n", "network.sizes", "at least"),
    ("[network]\nsizes = [4, 8, 1]\nwidth = 8\n", "network.width", "cannot be combined"),
    ("[sweep]\nwidht = [1, 2]\n", "sweep.widht", "did you mean 'width'"),
    ("[sweep]\nname = ['a']\n", "sweep.name", "cannot be swept"),
    ("[sweep]\nkT = 0.1\n", "sweep.kT", "list of values or a range"),
    ("[sweep]\nkT = []\n", "sweep.kT", "at least one"),
    ("[sweep]\nkT = [0.1, 0.1]\n", "sweep.kT[1]", "duplicate"),
    ("[sweep]\nwidth = [4, 4.5]\n", "sweep.width[1]", "must be an integer"),
    ("[sweep]\nkT = {start = 0.1, stop = 1}\n", "sweep.kT", "needs 'num'"),
    ("[sweep]\nkT = {start = 0.1, stop = 1, num = 3, step = 0.1}\n", "sweep.kT", "not both"),
    ("[sweep]\nkT = {start = 0, stop = 1, num = 3, scale = 'log'}\n", "sweep.kT", "start > 0"),
    ("[sweep]\nkT = {start = 0.1, stop = 1, num = 3, scale = 'cubic'}\n", "sweep.kT.scale", "linear"),
    ("[sweep]\nkT = {start = 0.1, stpo = 1, num = 3}\n", "sweep.kT.stpo", "unknown range key"),
    ("[sweep]\nwidth = {start = 4, stop = 5, num = 4}\n", "sweep.width", "repeated values"),
    ("[sweep]\nkT = {start = -1, stop = 1, num = 3}\n", "sweep.kT[0]", ">= 0"),
    ("[sweep]\nseed = [-1]\n", "sweep.seed[0]", ">= 0"),
    ("[network]\nsizes = [4, 8, 1]\n[sweep]\nwidth = [4, 8]\n", "sweep.width", "network.sizes"),
    ("[task]\nwidth = 3\n", "task.width", "built-in"),
    ("[task]\nopts = {a = 1}\n", "task.opts", "table"),
    ("[sweep]\nfoo = [1, 2]\n", "sweep.foo", "[task]"),
])
def test_errors_name_their_path(text, path, words):
    e = err(text)
    assert e.path == path, str(e)
    assert words in str(e), str(e)
    assert str(e).startswith(path + ": ")


def test_section_must_be_a_table():
    e = err("", base="network = 3\n" + BASE)
    assert e.path == "network" and "must be a table" in str(e)


def test_kind_is_required_and_seed_from_checked():
    e = err("", base="[dynamics]\nkT = 0.1\n")
    assert e.path == "experiment.kind"
    e = err("[sweep]\nkT = [0.1]\n", base=BASE.replace("seed = 7", 'seed_from = ["width"]'))
    assert e.path == "experiment.seed_from[0]"


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(IsADirectoryError):
        load_config(tmp_path)


# ----------------------------------------------------------------------------- property: any valid grid expands fully
@settings(max_examples=40, deadline=None)
@given(kTs=st.lists(st.floats(0, 1e3, allow_nan=False), min_size=1, max_size=4, unique=True),
       widths=st.lists(st.integers(1, 512), min_size=1, max_size=3, unique=True),
       n_seeds=st.integers(1, 3))
def test_any_valid_grid_expands_to_the_product(kTs, widths, n_seeds):
    c = cfg(f"[sweep]\nkT = {[repr(k) for k in kTs]}\nwidth = {widths}\nseed = {{start = 0, stop = {n_seeds}}}\n"
            .replace("'", ""))
    assert c.n_points == len(kTs) * len(widths) * n_seeds == len(c.points())
    assert len({p.key for p in c.points()}) == c.n_points
    assert len({p.seed for p in c.points()}) == c.n_points
    assert all(math.isfinite(p.coords["kT"]) for p in c.points())


# ----------------------------------------------------------------------------- the shipped examples
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_validate(path):
    from analogsim.sweeps.tasks import check_requirements, get_task

    c = load_config(path)
    assert c.n_points >= 1
    if ":" in c.kind:
        return
    try:
        spec = get_task(c.kind)
    except ConfigError:
        pytest.skip(f"kind {c.kind!r} needs a module that is not available here")
    check_requirements(spec, c)


def test_missing_kind_suggests_the_reading_commands_kind(tmp_path):
    """Issue 14 case 8: `relax --config` without kind suggested kind = "stress"; now the command's own kind."""
    p = tmp_path / "r.toml"
    p.write_text('[dynamics]\nkT = 0.1\n')
    with pytest.raises(ConfigError, match='add kind = "relax"'):
        load_config(p, kind_hint="relax")
    with pytest.raises(ConfigError, match='experiment.kind.*kind = "stress"'):
        parse_config('[dynamics]\nkT = 0.1\n')
