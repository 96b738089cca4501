"""muP variables from base shapes: base_fan_in, base_fan_out, width_mult; mup's .bsh file format."""

from __future__ import annotations

import pytest

import initreg
from initreg import Rules
from initreg.planning.base_shapes import mup_variables, parse_bsh
from initreg.planning.expressions import expr

# mup.shape.save_base_shapes writes this comment, then yaml.dump(base_shapes, None, indent=4)
BSH_COMMENT = '''\
# This is a base shape file encoded in yaml
# - `null` indicates a dimension is "finite", i.e. a non-"width" dimension
# - a number indicates the base dimension of an "infinite" dimension, i.e. some notion of "width"
'''
BASE = {"emb.weight": [None, 64], "h.0.fc.weight": [256, 64], "h.0.fc.bias": [256], "out.weight": [None, 64],
        "ln.weight": [64]}


def test_a_bsh_file_as_mup_writes_it_reads_back():
    yaml = pytest.importorskip("yaml")
    text = BSH_COMMENT + yaml.dump(BASE, None, indent=4)
    assert parse_bsh(text) == {k: tuple(v) for k, v in BASE.items()}
    flow = BSH_COMMENT + yaml.dump(BASE, None, indent=4, default_flow_style=None)  # leaf lists inline: PyYAML < 5.1 wrote these
    assert parse_bsh(flow) == {k: tuple(v) for k, v in BASE.items()}


def test_hand_written_bsh_and_its_errors():
    assert parse_bsh("'a.b': [3, null]\nc:\n- 4\n- ~\n") == {"a.b": (3, None), "c": (4, None)}
    with pytest.raises(initreg.RuleError, match="line 2.*positive integer or null"):
        parse_bsh("a:\n- -3\n", "f.bsh")
    with pytest.raises(initreg.RuleError, match="line 1"):
        parse_bsh("- 3\n", "f.bsh")


@pytest.mark.parametrize("shape, base, layout, expected", [
    ((1024, 256), (256, 64), "OI", {"base_fan_in": 64, "base_fan_out": 256, "width_mult": 4.0, "ninf": 2}),
    ((50, 256), (None, 64), "OI", {"base_fan_in": 64, "base_fan_out": 50, "width_mult": 4.0, "ninf": 1}),
    ((256, 50), (64, None), "OI", {"base_fan_in": 50, "base_fan_out": 64, "width_mult": 4.0, "ninf": 1}),  # output-width only
    ((256, 512), (64, 128), "IO", {"base_fan_in": 64, "base_fan_out": 128, "width_mult": 4.0, "ninf": 2}),
    ((1024,), (256,), "OI", {"width_mult": 4.0, "ninf": 1}),
    ((10, 64), (10, 64), "OI", {"base_fan_in": 64, "base_fan_out": 10, "width_mult": 1, "ninf": 0}),
])
def test_mup_variables(shape, base, layout, expected):
    assert mup_variables(shape, base, layout) == expected


def test_expressions_read_the_muP_variables_from_rules_base_shapes(tmp_path):
    yaml = pytest.importorskip("yaml")
    (tmp_path / "base.bsh").write_text(BSH_COMMENT + yaml.dump(BASE, None, indent=4))
    (tmp_path / "mup.toml").write_text('base_shapes = "base.bsh"\n\n[vars]\nsigma0 = 0.02\n\n'
                                       '[[rule]]\npattern = "*.fc.weight"\ninit = "normal"\n'
                                       'sigma = { expr = "sigma0 / sqrt(width_mult)" }\n\n'
                                       '[[rule]]\npattern = "out.weight"\ninit = "normal"\n'
                                       'sigma = { expr = "sigma0 * base_fan_in / fan_in" }\n')
    rules = Rules.load(tmp_path / "mup.toml")
    table = initreg.explain([("h.0.fc.weight", (1024, 256)), ("out.weight", (50, 256))], rules)
    assert table["h.0.fc.weight"].args["sigma"] == pytest.approx(0.01)
    assert table["h.0.fc.weight"].variables == {"sigma0": 0.02, "width_mult": 4.0}
    assert table["out.weight"].args["sigma"] == pytest.approx(0.005)
    assert rules.to_document()["base_shapes"]["emb.weight"] == [None, 64]
    again = Rules.loads(rules.dumps(format="json"), format="json")
    assert again == rules


def test_a_parameter_without_a_base_shape_is_a_clear_error():
    rules = Rules([("*", ("normal", {"sigma": expr("1 / width_mult")}))], base_shapes={"a": [4, 4]})
    with pytest.raises(initreg.RuleError, match="no base shape for 'b'"):
        initreg.explain([("a", (8, 8)), ("b", (8, 8))], rules)
    with pytest.raises(initreg.RuleError, match="2 dimensions, the parameter's shape"):
        initreg.explain([("a", (8, 8, 3))], rules)


@pytest.mark.parametrize("shapes", [{"a": [0]}, {"a": "4"}, [("a", [4])], {"a": [True]}])
def test_bad_base_shapes_are_rule_errors(shapes):
    with pytest.raises(initreg.RuleError, match="base"):
        Rules([], base_shapes=shapes)
