"""Rule files from elsewhere: the files they read stay beside them, their size and cost are bounded, bad input is a
RuleError (the attack round of the ninth session)."""

from __future__ import annotations

import os
import time
import types

import numpy as np
import pytest

import initreg
from initreg import Parameter, ParameterDict, Rules
from initreg.errors import RuleError, RuleTypeError
from initreg.planning.base_shapes import parse_bsh
from initreg.planning.expressions import Expr


@pytest.fixture
def project(tmp_path):
    """A rule-file folder ``proj`` holding base.bsh and w.npz, with a secret.npz and outside.bsh beside it."""
    proj = tmp_path / "proj"
    proj.mkdir()
    np.savez(proj / "w.npz", **{"a.w": np.full((2, 2), 3.0, np.float32)})
    np.savez(tmp_path / "secret.npz", **{"a.w": np.full((2, 2), 7.0, np.float32)})
    (proj / "base.bsh").write_text("a.w: [2, null]\n")
    (tmp_path / "outside.bsh").write_text("a.w: [2, null]\n")
    return proj


def _rule_file(proj, body, name="r.toml"):
    (proj / name).write_text(body)
    return proj / name


# three ways out of the rule file's folder, to a file beside the folder: its absolute path, "..", a symlink
ESCAPES = [("absolute", "an absolute path"), ("dots", "climbs out with '..'"), ("link", "through a symlink")]


def _escape(project, how, target):
    """The text a rule file would write to reach ``project.parent / target`` the way ``how`` says."""
    os.symlink(project.parent / target, project / f"link-{target}")
    return {"absolute": str(project.parent / target), "dots": f"../{target}", "link": f"link-{target}"}[how]


@pytest.mark.parametrize("how, why", ESCAPES)
def test_a_rule_files_base_shapes_outside_its_folder_is_refused(project, how, why):
    path = _rule_file(project, f'base_shapes = "{_escape(project, how, "outside.bsh")}"\n')
    with pytest.raises(RuleError, match=f"base_shapes names the file .*{why}.*inside its own folder"):
        Rules.load(path)


def test_a_rule_files_base_shapes_beside_it_is_read_from_any_working_directory(project, monkeypatch):
    monkeypatch.chdir(project.parent)
    assert Rules.load(_rule_file(project, 'base_shapes = "base.bsh"\n')).base_shapes == {"a.w": (2, None)}


@pytest.mark.parametrize("how, why", ESCAPES)
def test_a_rule_files_load_outside_its_folder_is_refused(project, how, why):
    entry = _escape(project, how, "secret.npz")
    with pytest.raises(RuleError, match=f"rule 1.*load.*{why}"):
        Rules.load(_rule_file(project, f'[[rule]]\npattern = "*"\ninit = "load"\npath = "{entry}"\n'))
    nested = f'default = {{ init = "load", path = "w.npz", default = ["load", {{ path = "{entry}" }}] }}\n'
    with pytest.raises(RuleError, match=f"default.*{why}"):
        Rules.load(_rule_file(project, nested, "n.toml"))


def test_a_rule_files_load_is_read_beside_it_not_from_the_working_directory(project, monkeypatch):
    monkeypatch.chdir(project.parent)  # where a secret w.npz with other values would be found by a CWD-relative read
    np.savez(project.parent / "w.npz", **{"a.w": np.full((2, 2), 7.0, np.float32)})
    rules = Rules.load(_rule_file(project, '[[rule]]\npattern = "*"\ninit = "load"\npath = "w.npz"\n'))
    params = ParameterDict([Parameter("a.w", (2, 2))])
    params.initialize(rules, seed=0)
    assert np.array_equal(params["a.w"].data(), np.full((2, 2), 3.0, np.float32))


class Scaled(initreg.Initializer):
    """``inner``'s values times ``scale``: an initializer holding another, with a number an expression can give."""

    def __init__(self, inner, scale: float = 1.0):
        self.inner, self.scale = initreg.create(inner), scale

    def fill(self, desc, out, rng):
        self.inner.fill(desc, out, rng)
        out *= self.scale


@pytest.fixture
def scaled():
    mod = types.ModuleType("nb_scaled")

    @initreg.hookimpl
    def initreg_register_initializers(register):
        register(Scaled)

    mod.initreg_register_initializers = initreg_register_initializers
    initreg.register_plugin(mod)
    yield
    initreg.unregister_plugin(mod)


def test_a_rule_with_expressions_vets_the_files_of_each_initializer_it_makes(project, scaled):
    body = ('[[rule]]\npattern = "*"\ninit = "scaled"\ninner = ["load", { path = "../secret.npz" }]\n'
            'scale = { expr = "fan_in / 2" }\n')
    rules = Rules.load(_rule_file(project, body))  # made per parameter: refused when the first one is made
    params = ParameterDict([Parameter("a.w", (2, 2))])
    with pytest.raises(RuleError, match="climbs out with '..'"):
        params.initialize(rules, seed=0)
    assert params["a.w"].state == "declared"
    inside = Rules.load(_rule_file(project, body.replace("../secret.npz", "w.npz"), "ok.toml"))
    params.initialize(inside, seed=0)
    assert np.array_equal(params["a.w"].data(), np.full((2, 2), 3.0, np.float32))  # fan_in 2: scale 1


def test_rules_loads_takes_files_inside_root_and_reads_any_path_without(project):
    text = f'[[rule]]\npattern = "*"\ninit = "load"\npath = "{project.parent / "secret.npz"}"\n'
    with pytest.raises(RuleError, match="an absolute path"):
        Rules.loads(text, root=project)
    assert Rules.loads(text)[0].init.path == str(project.parent / "secret.npz")  # the caller's own text


def test_a_rule_file_that_is_too_large_or_not_a_file_is_refused_without_reading_it(project):
    big = project / "big.toml"
    with open(big, "wb") as f:
        f.truncate((16 << 20) + 1)
    with pytest.raises(RuleError, match="larger than initreg's limit"):
        Rules.load(big)
    os.mkfifo(project / "fifo.toml")
    start = time.perf_counter()
    with pytest.raises(RuleError, match="not a regular file"):
        Rules.load(project / "fifo.toml")  # opened without blocking: no writer will ever come
    assert time.perf_counter() - start < 5
    (project / "z.toml").write_text('base_shapes = "zero.bsh"\n')
    os.symlink("/dev/zero", project / "zero.bsh")
    with pytest.raises(RuleError, match="not a regular file|through a symlink"):
        Rules.load(project / "z.toml")


def test_a_rule_file_with_too_many_rules_or_requirements_is_refused(project):
    many = "".join(f'[[rule]]\npattern = "w{i}"\ninit = "zeros"\n' for i in range(10_001))
    with pytest.raises(RuleError, match="10,001 rules, over initreg's limit of 10,000"):
        Rules.loads(many)
    with pytest.raises(RuleError, match="101 requirements, over initreg's limit of 100"):
        Rules.loads("requires = [%s]\n" % ", ".join(['"initreg>=0"'] * 101))


@pytest.mark.parametrize("text, match", [
    ("a" + " " * 200_000 + "b\n", "is not 'name:'"),  # no colon: quadratic in the old parser (minutes)
    ('"a\\x": [3]\n', "not a valid double-quoted name"),
    ("a: [\u00b2]\n", "positive integer or null"),  # a digit to str.isdigit, not to int()
    ("a: [%s]\n" % ("9" * 5000), "positive integer or null"),
])
def test_bad_bsh_text_is_a_rule_error_quickly_with_a_short_message(text, match):
    start = time.perf_counter()
    with pytest.raises(RuleError, match=match) as info:
        parse_bsh(text, "b.bsh")
    assert time.perf_counter() - start < 5 and len(str(info.value)) < 400


def test_a_bsh_file_that_is_not_utf8_is_a_rule_error(tmp_path):
    (tmp_path / "b.bsh").write_bytes(b"\xff\xfe: [3]\n")
    with pytest.raises(RuleError, match="cannot be read"):
        Rules(base_shapes=tmp_path / "b.bsh")


def test_a_misspelled_variable_is_an_error_naming_the_close_one():
    spec = [("transformer.h.0.attn.c_proj.weight", (4, 4))]
    with pytest.raises(RuleError, match="'n_layers' is not a variable of these rules.*did you mean 'n_layer'"):
        initreg.explain(spec, "recipe:gpt2", vars={"n_layers": 4}, seed=0)
    row = initreg.explain(spec, "recipe:gpt2", vars={"n_layer": 4}, seed=0)[spec[0][0]]
    assert row.variables["n_layer"] == 4


def test_hostile_expressions_and_captures_are_rule_errors():
    with pytest.raises(RuleError, match="nested too deeply"):
        Rules([("*", {"name": "normal", "sigma": Expr("-" * 998 + "1")})])
    rules = Rules([("layers.{i}.w", {"name": "normal", "sigma": Expr("0.02 / sqrt(i + 1)")})])
    with pytest.raises(RuleError, match="not a number"):  # 5000 digits stay text: no int() over Python's limit
        initreg.explain([("layers." + "7" * 5000 + ".w", (2, 2))], rules)
    with pytest.raises(RuleError, match="not valid"):
        initreg.planning.name_maps.map_names(["ab"], [(r"(a)", "{\u00b2}")])
    with pytest.raises(RuleError, match="must be a mapping"):
        initreg.planning.name_maps.map_names(["l.3"], [(r"l\.(?P<i>\d+)", "l.{i + n}")], vars=[1])


@pytest.mark.parametrize("call", [
    lambda r: Rules(None), lambda r: Rules(5), lambda r: r.match(None), lambda r: r.first_matches([None]),
    lambda r: r.check([None]), lambda r: r.replace(fooo=1), lambda r: Rules.load(None), lambda r: Rules.load(123),
    lambda r: initreg.explain(None, r), lambda r: initreg.explain(5, r),
])
def test_arguments_of_the_wrong_type_are_rule_type_errors(call):
    with pytest.raises(RuleTypeError) as info:
        call(Rules([("*", "normal")]))
    assert isinstance(info.value, TypeError) and isinstance(info.value, initreg.InitregError)


def test_checking_many_prefixed_rules_against_many_names_tries_only_the_names_they_can_match():
    calls = {"n": 0}
    rules = Rules([(f"re:zz{i}.*", "normal") for i in range(300)])
    real = rules._index._match

    def counting(fn):
        def match(name):
            calls["n"] += 1
            return fn(name)
        return match

    rules._index._match = [counting(m) for m in real]
    names = [f"layer.{i}.w" for i in range(300)] + ["zz7.w"]
    diagnostics = rules.check(names)
    assert len(diagnostics.unused) == 299
    assert calls["n"] < 1000  # 300 × 301 pairs before; now only zz7.w, for the rules whose prefix it carries


def test_vars_a_name_map_reads_are_known_and_a_callable_name_map_may_read_any():
    depth = Rules([("layers.{i}.w", ("normal", {"sigma": Expr("init_std / sqrt(i + 1)")}))])
    spec = [("layers.0.w", (4, 4))]
    shifted = [(r"^layers\.(?P<i>\d+)\.", "layers.{i + offset}.")]
    row = initreg.explain(spec, depth, vars={"init_std": 0.02, "offset": 2}, name_map=shifted)["layers.0.w"]
    assert row.key_name == "layers.2.w"
    with pytest.raises(RuleError, match="'ofset' is not a variable.*did you mean 'offset'"):
        initreg.explain(spec, depth, vars={"init_std": 0.02, "ofset": 2}, name_map=shifted)
    initreg.explain(spec, depth, vars={"init_std": 0.02, "anything": 2}, name_map=lambda n: n)
    params = ParameterDict([Parameter("layers.0.w", (4, 4))])
    with pytest.raises(RuleError, match="'init_sd' is not a variable"):
        params.initialize(depth, seed=0, vars={"init_sd": 0.02})
    assert params["layers.0.w"].state == "declared"
