"""initreg.torch's CUDA route (a contiguous CUDA tensor written in place by v4's kernel through DLPack) on emulated CuPy.

A CPU tensor that reports ``cuda:i`` stands in for a CUDA tensor and tests/emulated_cupy.py for CuPy: the fill must
take the GPU route (a launch on the tensor's device), give the host's bits in every dtype (bfloat16: float32 on the
device, rounded by torch), and leave the host route to what CuPy cannot take. CUDA itself is checked by
``pytest -m gpu`` (test_torch_adapter.py, test_catalog_bits_frozen.py) on a machine with a GPU.
"""

from __future__ import annotations

import shutil
import types

import pytest

torch = pytest.importorskip("torch")

import initreg  # noqa: E402
from initreg.core import v4_gpu  # noqa: E402
from initreg.plugins.specs import create  # noqa: E402
from initreg.torch import placement  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (the stand-in builds the CUDA source)")


class OnCuda:
    """A CPU tensor that says it is on ``cuda:index``: what placement.fill reads of a tensor, memory shared by DLPack."""

    def __init__(self, tensor, index: int = 0):
        self.tensor, self.shape, self.dtype = tensor, tensor.shape, tensor.dtype
        self.device = types.SimpleNamespace(type="cuda", index=index)

    def detach(self):
        return self

    def clone(self):
        return self.tensor.clone()

    def numel(self) -> int:
        return self.tensor.numel()

    def is_contiguous(self) -> bool:
        return self.tensor.is_contiguous()

    def copy_(self, source) -> None:
        self.tensor.copy_(source)

    def isfinite(self):
        return self.tensor.isfinite()

    def __dlpack__(self, **kwargs):
        return self.tensor.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.tensor.__dlpack_device__()


def _host(shape, dtype, spec):
    t = torch.full(shape, 7.0, dtype=dtype)
    placement.fill(t, create(spec), "block.weight", 4)
    return t


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("index", [0, 1])
def test_a_cuda_tensor_is_filled_on_its_gpu_with_the_host_bits(two_gpus, dtype, index):
    for spec in ("xavier", "truncatednormal", "uniform"):
        v4_gpu._module.cache_clear()
        t = torch.full((40, 24), 7.0, dtype=dtype)
        placement.fill(OnCuda(t, index), create(spec), "block.weight", 4)
        assert torch.equal(t.view(torch.int8), _host((40, 24), dtype, spec).view(torch.int8)), (spec, dtype)
        assert v4_gpu._module(index).launches and not v4_gpu._module(1 - index).launches, (spec, dtype, index)


def test_values_that_overflow_bfloat16_on_the_gpu_are_an_error(two_gpus):
    t = torch.full((8, 4), 7.0, dtype=torch.bfloat16)
    with pytest.raises(initreg.InitializationError, match=r"'block.weight'.*overflow torch\.bfloat16"):
        placement.fill(OnCuda(t, 1), create(["uniform", {"low": 3.39e38, "high": 3.4e38}]), "block.weight", 4)
    assert v4_gpu._module(1).launches  # computed on the GPU in float32, found infinite after torch's rounding


def test_what_cupy_cannot_take_is_left_to_the_host(two_gpus):
    t = torch.full((24, 40), 7.0).t()  # not contiguous
    before = t.clone()
    assert placement.fill_on_gpu(OnCuda(t), create("normal"), (40, 24), "block.weight", 4, "float32", "float32") is False
    assert torch.equal(t, before) and not v4_gpu._module(0).launches
    t = torch.full((40, 24), 7.0)
    assert placement.fill_on_gpu(OnCuda(t, 2), create("normal"), (40, 24), "block.weight", 4, "float32",
                                  "float32") is False  # no gpu(2) here
    assert torch.equal(t, torch.full((40, 24), 7.0))


def test_host_values_are_copied_into_a_cuda_tensor_through_cupy(two_gpus):
    t = torch.zeros(5, 3)
    placement._copy_in(OnCuda(t), torch.arange(15.0).reshape(5, 3).numpy())
    assert torch.equal(t, torch.arange(15.0).reshape(5, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("index", [(slice(8, 24),), (slice(None), slice(6, 18)), (slice(5, 6), slice(0, 24))],
                         ids=["rows", "columns", "one-row"])
def test_a_cuda_shard_holds_its_region_computed_on_its_gpu(two_gpus, dtype, index):
    # what a DTensor's local shard on cuda:1 gets (fill_local): its region of the whole tensor, on its own GPU
    shape = tuple(len(range(40)[index[0]]) if d == 0 else len(range(24)[s]) for d, s in enumerate(
        index + (slice(None),) * (2 - len(index))))
    for spec in ("xavier", "truncatednormal"):
        v4_gpu._module.cache_clear()
        t = torch.full(shape, 7.0, dtype=dtype)
        compute = placement.compute_dtype(placement.dtype_name(t))
        assert placement.fill_on_gpu(OnCuda(t, 1), create(spec), (40, 24), "block.weight", 4, placement.dtype_name(t),
                                     compute, index) is True
        want = torch.from_numpy(initreg.values(spec, (40, 24), name="block.weight", seed=4, dtype=compute,
                                               index=index)).to(dtype)
        assert torch.equal(t.view(torch.int8), want.view(torch.int8)), (spec, dtype, index)
        assert v4_gpu._module(1).launches and not v4_gpu._module(0).launches


def test_fill_local_computes_a_cuda_shard_on_its_gpu_and_keeps_it_on_an_error(two_gpus, monkeypatch):
    from initreg.torch import dtensor

    region = (slice(10, 30), slice(0, 24))
    monkeypatch.setattr(dtensor, "local_region", lambda tensor, name="(unnamed)": region)
    t = torch.full((20, 24), 7.0)
    local = OnCuda(t, 1)
    sharded = types.SimpleNamespace(shape=torch.Size((40, 24)), dtype=t.dtype, placements=(), to_local=lambda: local)
    row = types.SimpleNamespace(name="block.weight", shape=(40, 24), initializer=create("xavier"), layout="OI")
    dtensor.fill_local(sharded, row, 4)
    assert torch.equal(t, torch.from_numpy(initreg.values("xavier", (40, 24), name="block.weight", seed=4,
                                                          index=region)))
    assert v4_gpu._module(1).launches and not v4_gpu._module(0).launches
    before = t.clone()
    bad = types.SimpleNamespace(name="block.weight", shape=(40, 24), initializer=create("normal"), layout="OI")
    monkeypatch.setattr(v4_gpu, "_launch", lambda *a: (_ for _ in ()).throw(RuntimeError("the launch failed")))
    with pytest.raises(RuntimeError, match="the launch failed"):
        dtensor.fill_local(sharded, bad, 5)
    assert torch.equal(t, before)  # the shard holds what it held
