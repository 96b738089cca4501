"""initreg.torch changes all or nothing (issue 25, items 8-11 and 15): overlapping storage, meta installs, name
collisions, expanded parameters and lazy deferred fills."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import initreg  # noqa: E402
import initreg.torch as it  # noqa: E402
from initreg.errors import InitializationError, InitregError, ParameterValueError  # noqa: E402


class Boom(initreg.Initializer):
    """Fails on every fill."""

    def fill(self, desc, out, rng):
        raise RuntimeError("boom")


def snapshot(module):
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def assert_unchanged(module, before):
    now = dict(module.named_parameters())
    assert list(now) == list(before)
    for n, p in now.items():
        assert torch.equal(p.detach(), before[n]), n


# --- 8: parameters overlapping in storage ------------------------------------------------------------

def overlapping():
    base = torch.zeros(6)
    m = nn.Module()
    m.a = nn.Parameter(base[0:4])  # elements 0..3
    m.b = nn.Parameter(base[2:6])  # elements 2..5: shares 2 and 3 with a
    return m, base


def test_overlapping_parameters_are_refused_naming_both_before_anything_is_written():
    m, base = overlapping()
    with pytest.raises(ParameterValueError, match=r"'a' and 'b'.*share memory") as err:
        it.initialize(m, {"b": Boom()}, default="normal", seed=0)
    assert isinstance(err.value, InitregError)
    assert torch.equal(base, torch.zeros(6))  # was [0, 0, 7, 7, 0, 0]-style leftovers before
    with pytest.raises(ParameterValueError, match="'a' and 'b'"):
        it.initialize(m, default="normal", seed=0)  # on success one of them silently lost its values
    assert torch.equal(base, torch.zeros(6))


def test_disjoint_views_of_one_storage_are_fine_and_interleaved_views_too():
    base = torch.zeros(4, 6)
    m = nn.Module()
    m.left, m.right = nn.Parameter(base[:, :3]), nn.Parameter(base[:, 3:])  # spans overlap, bytes do not
    m.top = nn.Parameter(torch.zeros(8)[0::2])
    table = it.initialize(m, default="normal", seed=1)
    for r in table:
        want = initreg.values(r.initializer, r.shape, name=r.name, seed=1)
        np.testing.assert_array_equal(dict(m.named_parameters())[r.name].detach().numpy(), want)


def test_views_of_a_fused_weight_are_checked_without_listing_their_bytes(monkeypatch):
    from initreg.torch import storage

    def every_byte(tensor):  # what the check did before: 45 times the tensors' bytes of memory (1.5 GB at 32 MB)
        raise AssertionError("every byte listed")

    monkeypatch.setattr(storage, "_bytes", every_byte)
    base = torch.zeros(512, 1024)
    m = nn.Module()
    m.q, m.k = nn.Parameter(base[:, :512]), nn.Parameter(base[:, 512:])  # interleaved spans, no common byte
    it.initialize(m, default="normal", seed=1)
    m.k = nn.Parameter(base[:, 511:1023])  # one column in common with q
    with pytest.raises(ParameterValueError, match="'q' and 'k'"):
        it.initialize(m, default="normal", seed=1)


def test_a_failure_restores_in_reverse_so_a_later_backup_cannot_reinstate_an_earlier_write(monkeypatch):
    from initreg.torch import filling

    monkeypatch.setattr(filling, "check_overlaps", lambda tensors: None)  # the restore itself, without the guard
    m, base = overlapping()
    with pytest.raises(InitializationError):
        it.initialize(m, {"b": Boom()}, default=["constant", {"value": 7.0}], seed=0)
    assert torch.equal(base, torch.zeros(6))


# --- 15: a parameter whose elements share memory ----------------------------------------------------

def test_an_expanded_parameter_is_an_initreg_error_not_torchs_runtime_error():
    m = nn.Module()
    m.w = nn.Parameter(torch.zeros(3).expand(4, 3))
    m.v = nn.Parameter(torch.zeros(2))
    with pytest.raises(ParameterValueError, match=r"'w'.*\(4, 3\).*share memory"):
        it.initialize(m, default="normal", seed=0)
    assert not m.v.any() and not m.w.any()
    m.w = nn.Parameter(torch.zeros(3)[None].expand(1, 3))  # one row: no element is shared
    it.initialize(m, default="normal", seed=0)
    assert m.w.abs().sum() > 0


# --- 9: meta storage built and installed before any real tensor is touched ---------------------------

class Tagged(nn.Parameter):
    """A Parameter subclass whose constructor needs another argument (as FSDP2's meta DTensor parameters)."""

    def __new__(cls, data, tag, requires_grad=True):
        return super().__new__(cls, data, requires_grad)


def test_a_meta_parameter_subclass_with_another_constructor_changes_nothing():
    m = nn.Sequential(nn.Linear(3, 3))
    with torch.device("meta"):
        m.append(nn.Linear(3, 3))
    m[1].weight = Tagged(torch.empty(3, 3, device="meta"), tag="x")
    before = snapshot(m[0])
    with pytest.raises(ParameterValueError, match=r"'1.weight'.*Tagged.*nothing was changed"):
        it.initialize(m, seed=0)
    assert_unchanged(m[0], before)
    assert m[1].weight.is_meta and m[1].bias.is_meta and type(m[1].weight) is Tagged


class Frozen(nn.Linear):
    """Refuses to have its weight replaced."""

    def __setattr__(self, name, value):
        if name == "weight" and "weight" in self._parameters:
            raise AttributeError("weight is frozen")
        super().__setattr__(name, value)


def test_a_module_refusing_setattr_changes_nothing_anywhere():
    m = nn.Sequential(nn.Linear(3, 3))
    with torch.device("meta"):
        m.append(nn.Linear(3, 3))
        m.append(Frozen(3, 3))
    before = snapshot(m[0])
    with pytest.raises(ParameterValueError, match=r"'2.weight'.*frozen"):
        it.initialize(m, {"2.*": "normal"}, seed=0)
    assert_unchanged(m[0], before)
    assert all(p.is_meta for p in list(m[1].parameters()) + list(m[2].parameters()))


def test_a_dotted_meta_parameter_name_is_materialized():
    with torch.device("meta"):
        m = nn.Module()
        m.register_parameter("ok", nn.Parameter(torch.empty(2)))
        m._parameters["odd.name"] = nn.Parameter(torch.empty(3))  # register_parameter refuses dots; the dict does not
    table = it.initialize(m, default="normal", seed=4)
    p = dict(m.named_parameters())["odd.name"]
    assert not p.is_meta
    np.testing.assert_array_equal(p.detach().numpy(), initreg.values(table["odd.name"].initializer, (3,),
                                                                     name="odd.name", seed=4))


def test_a_failing_fill_on_a_mixed_model_restores_real_tensors_and_meta_objects():
    m = nn.Sequential(nn.Linear(3, 3))
    with torch.device("meta"):
        m.append(nn.Linear(3, 3))
        m.append(nn.BatchNorm1d(3))
    before = snapshot(m[0])
    meta_objects = [id(p) for p in m[1].parameters()] + [id(m[2].running_mean)]
    with pytest.raises(InitializationError):
        it.initialize(m, {"1.bias": Boom()}, seed=0)
    assert_unchanged(m[0], before)
    assert [id(p) for p in m[1].parameters()] + [id(m[2].running_mean)] == meta_objects


# --- 10: two different tensors under one name -------------------------------------------------------

def test_two_different_tensors_under_one_name_are_an_error():
    m = nn.Module()
    m.sub = nn.Linear(2, 2)
    m._parameters["sub.weight"] = nn.Parameter(torch.zeros(2, 2))  # collides with m.sub.weight
    before = snapshot(m.sub)
    with pytest.raises(ParameterValueError, match=r"'sub.weight'"):
        it.initialize(m, default="normal", seed=0)
    with pytest.raises(ParameterValueError, match=r"'sub.weight'"):
        it.plan(m)
    assert_unchanged(m.sub, before)


# --- 11: a failed deferred fill on a lazy module restores it ----------------------------------------

def test_a_failed_deferred_fill_restores_the_lazy_module():
    lazy = nn.Sequential(nn.LazyLinear(4))
    it.initialize(lazy, {"0.bias": Boom()}, seed=0)
    torch.manual_seed(0)
    with pytest.raises(InitializationError):
        lazy(torch.randn(2, 5))
    torch.manual_seed(0)  # the same draws LazyLinear's own materialization made
    twin = nn.Sequential(nn.LazyLinear(4))
    twin(torch.randn(2, 5))
    assert torch.equal(lazy[0].weight, twin[0].weight) and torch.equal(lazy[0].bias, twin[0].bias)


# --- the torch.nn.init-style functions: a failed fill leaves the tensor as it was ----------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("contiguous", [True, False])
def test_a_failed_init_function_leaves_the_tensor_unchanged(dtype, contiguous):
    from initreg.torch import init

    base = torch.arange(48, dtype=torch.float32).reshape(6, 8).to(dtype)
    t = base if contiguous else base.t()
    before = base.clone()
    with pytest.raises(InitializationError, match="unchanged"):
        init.normal_(t, std=1e300, name="w", seed=0)  # every value is written, then found non-finite
    assert torch.equal(base, before)
    with pytest.raises(InitializationError):
        init.fill_(t, Boom(), name="w", seed=0)
    assert torch.equal(base, before)


# --- values finite in float32 but not once rounded to bfloat16 (3.4e38 rounds up to inf) -------------

@pytest.mark.parametrize("contiguous", [True, False])
def test_values_that_overflow_bfloat16_once_rounded_are_an_error_and_nothing_changes(contiguous):
    lin = torch.nn.Linear(4, 3).to(torch.bfloat16)
    if not contiguous:
        lin.weight = torch.nn.Parameter(lin.weight.detach().t().contiguous().t())
    before = [p.detach().clone() for p in lin.parameters()]
    with pytest.raises(InitializationError, match=r"'weight'.*overflow torch\.bfloat16.*unchanged"):
        it.initialize(lin, {"bias": "zeros", "weight": ["constant", {"value": 3.4e38}]}, seed=0)
    assert all(torch.equal(p.detach(), b) for p, b in zip(lin.parameters(), before))
    it.initialize(lin, {"bias": "zeros", "weight": ["constant", {"value": 3.3e38}]}, seed=0)  # rounds to a finite value
    assert torch.isfinite(lin.weight).all()


def test_a_meta_model_too_large_to_materialize_is_an_allocation_error_and_stays_on_meta():
    with torch.device("meta"):
        m = nn.Linear(2**22, 2**24)  # 256 TiB: beyond x86-64's user address space, so no overcommit grants it
    with pytest.raises(initreg.AllocationError, match=r"262,144\.1 GiB on cpu.*initreg init --torch") as info:
        it.initialize(m, seed=0)
    assert isinstance(info.value, MemoryError) and m.weight.is_meta and m.bias.is_meta
