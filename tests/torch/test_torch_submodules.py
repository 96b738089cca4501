"""Per-module initialization keys by full names in the root model (issue 26, item 3): model.apply finds the root,
prefix= states it, and a submodule initialized by its local names next to its model warns."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initreg.torch as it  # noqa: E402
from initreg.errors import ParameterValueError, SharedStreamWarning  # noqa: E402


def net():
    return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), nn.Linear(4, 4))


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_model_apply_keys_each_module_by_its_full_name_as_the_root_init_does():
    root = net()
    it.initialize(root, seed=0)
    applied = net()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the root is known: no warning
        applied.apply(lambda m: it.initialize(m, seed=0) if isinstance(m, nn.Linear) else None)
    assert same(root, applied)
    assert not torch.equal(applied[0].weight, applied[3].weight)  # same shape, different names: not correlated


def test_named_apply_passes_the_path_as_prefix():
    def named_apply(fn, module, name=""):  # timm's helper
        for child_name, child in module.named_children():
            named_apply(fn, child, ".".join(filter(None, (name, child_name))))
        fn(module=module, name=name)

    root, applied = net(), net()
    it.initialize(root, seed=4)
    named_apply(lambda module, name: it.initialize(module, seed=4, prefix=name)
                if isinstance(module, (nn.Linear, nn.LayerNorm)) else None, applied)
    assert same(root, applied)
    assert it.plan(applied[2][0], seed=4, prefix="2.0")["2.0.weight"].key == it.plan(root, seed=4)["2.0.weight"].key


def test_a_submodule_by_local_names_next_to_its_model_warns():
    model = net()
    with pytest.warns(SharedStreamWarning, match=r"submodule \('3'\).*prefix="):
        for m in model.modules():
            if isinstance(m, nn.Linear):
                it.initialize(m, seed=0)
    assert torch.equal(model[0].weight, model[3].weight)  # what the warning is about
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        it.initialize(model[3], seed=0, prefix="3")  # stated: no warning, the root's values
    root = net()
    it.initialize(root, seed=0)
    assert torch.equal(model[3].weight, root[3].weight)
    with pytest.raises(ParameterValueError, match="prefix"):
        it.initialize(model[3], prefix=3)
