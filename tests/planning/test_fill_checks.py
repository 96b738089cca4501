"""Every fill is checked where values are drawn (regions.draw): unwritten memory, returned arrays, NaN (issue 16, item 1)."""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg import InitializationError, Initializer, Parameter
from initreg.core.stream import BLOCK


class WritesNothing(Initializer):
    regions = "blocks"

    def fill(self, desc, out, rng):
        pass


class WritesHalf(Initializer):
    def fill(self, desc, out, rng):
        out.reshape(-1)[: out.size // 2] = 1


class ReturnsNew(Initializer):
    def fill(self, desc, out, rng):
        return np.ones(desc.shape, desc.dtype)


class ReturnsOut(Initializer):
    def fill(self, desc, out, rng):
        out[...] = 2
        return out


class WritesNaN(Initializer):
    def fill(self, desc, out, rng):
        out.fill(np.nan)


class WritesIntMinimum(Initializer):
    """Writes every value, some of them the int sentinel: a legitimate fill the check must accept."""

    def fill(self, desc, out, rng):
        out[...] = np.iinfo(out.dtype).min
        out.reshape(-1)[::2] = 7


def _unchanged(p: Parameter, before: np.ndarray) -> None:
    assert p.state == "initialized" and np.array_equal(p.data(), before)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int8", "int32", "uint8", "int64"])
@pytest.mark.parametrize("bad", [WritesNothing, WritesHalf])
def test_a_fill_that_leaves_memory_unwritten_is_refused_and_nothing_changes(bad, dtype):
    p = Parameter("w", (3, 5), dtype=dtype)
    p.initialize("ones")
    before = p.data().copy()
    with pytest.raises(InitializationError, match="unwritten") as err:
        p.initialize(bad(), force_reinit=True)
    assert "'w'" in str(err.value) and bad.__name__ in str(err.value)
    _unchanged(p, before)


@pytest.mark.parametrize("index", [None, np.s_[3:BLOCK + 9]])
def test_unwritten_blocks_are_refused_in_values_and_regions(index):
    with pytest.raises(InitializationError, match="unwritten"):
        initreg.values(WritesNothing(), (3 * BLOCK,), name="w", seed=0, index=index)


def test_a_fill_returning_a_new_array_is_refused():
    p = Parameter("w", (2, 2))
    with pytest.raises(InitializationError, match="returned a ndarray instead of writing into out"):
        p.initialize(ReturnsNew())
    assert p.state == "declared"


def test_a_fill_returning_out_itself_is_accepted():
    assert np.array_equal(ReturnsOut()((2, 3)), np.full((2, 3), 2, np.float32))


def test_ints_equal_to_the_sentinel_that_were_written_are_accepted():
    got = initreg.values(WritesIntMinimum(), (4, 3), name="w", seed=0, dtype="int16")
    want = np.full(12, np.iinfo(np.int16).min, np.int16)
    want[::2] = 7
    assert np.array_equal(got.reshape(-1), want)


def test_calling_an_initializer_is_checked_like_initialize():
    with pytest.raises(InitializationError, match="non-finite"):
        WritesNaN()((3,))
    with pytest.raises(InitializationError, match="unwritten"):
        WritesNothing()((3,), "int32")


def test_calling_an_initializer_with_an_int_dtype_it_cannot_fill_is_an_initreg_error():
    with pytest.raises(InitializationError, match="dtype int32"):
        initreg.create("normal")((3,), "int32")


def test_calling_an_initializer_equals_values_and_initialize():
    init = initreg.create("normal", sigma=0.5)
    p = Parameter("w", (4, 4))
    p.initialize(init, seed=9)
    assert np.array_equal(init((4, 4), seed=9, name="w"), p.data())


def test_an_outside_fill_reached_through_load_default_is_checked(tmp_path):
    from initreg.checkpoints import files as checkpoint
    from initreg.std import Load

    path = checkpoint.save(tmp_path / "c.npz", {"other": np.ones(2, np.float32)})
    p = Parameter("w", (2, 2))
    with pytest.raises(InitializationError, match="unwritten"):
        p.initialize(Load(path, default=WritesNothing()))
    assert p.state == "declared"
    p.initialize(Load(path, default="ones"))
    assert np.array_equal(p.data(), np.ones((2, 2), np.float32))


# values(..., out=): a failed fill leaves the caller's array as it was (the whole tensor through the kernel's fast path,
# a row region through runs, a column region into a non-contiguous view, an outside initializer's blocks)
@pytest.mark.parametrize("index, init", [
    (None, ["normal", {"sigma": 1e300}]),  # float32 overflows to inf after the kernel wrote every value
    ((slice(1, 5),), ["normal", {"sigma": 1e300}]),
    ((slice(None), slice(2, 6)), ["uniform", {"low": -1e300, "high": 1e300}]),
    (None, WritesNaN()),
    ((slice(0, 3),), WritesHalf()),
])
def test_values_into_out_leaves_out_unchanged_on_an_error(index, init):
    shape = (6, 8)
    region = np.empty(shape)[index if index is not None else ()].shape
    holder = np.arange(2 * int(np.prod(region)), dtype=np.float32).reshape(region[:-1] + (2 * region[-1],))
    out = holder[..., ::2] if len(region) > 1 and index is not None and len(index) > 1 else holder.reshape(-1)[
        : int(np.prod(region))].reshape(region)
    before = holder.copy()
    with pytest.raises(InitializationError, match="unchanged"):
        initreg.values(init, shape, name="w", seed=3, index=index, out=out)
    assert np.array_equal(holder, before)


def test_values_into_out_still_writes_out_when_the_fill_succeeds():
    out = np.full((6, 8), 9.0, dtype=np.float32)
    assert initreg.values("normal", (6, 8), name="w", seed=3, out=out) is out
    assert np.array_equal(out, initreg.values("normal", (6, 8), name="w", seed=3))


# out= whose elements share memory cannot hold distinct values (the torch adapter refuses such tensors too)
@pytest.mark.parametrize("make", [
    lambda: np.lib.stride_tricks.as_strided(np.zeros(8, np.float32), shape=(2, 8), strides=(0, 4)),
    lambda: np.lib.stride_tricks.as_strided(np.zeros(60, np.float32), shape=(2, 8), strides=(16, 4)),  # rows overlap
])
def test_an_out_whose_elements_share_memory_is_refused_and_left_as_it_was(make):
    out = make()
    before = np.array(out)
    with pytest.raises(initreg.ParameterValueError, match=r"share memory.*np\.empty\(\(2, 8\)\)"):
        initreg.values("normal", (2, 8), name="w", seed=0, out=out)
    assert np.array_equal(out, before)


def test_a_strided_out_whose_elements_are_distinct_is_filled():
    holder = np.zeros((8, 6), np.float32)
    out = holder.T[:, ::2][::-1]  # transposed, every other column, rows reversed: no element shares memory
    assert initreg.values("normal", out.shape, name="w", seed=0, out=out) is out
    assert np.array_equal(out, initreg.values("normal", out.shape, name="w", seed=0))


def test_an_out_of_another_library_is_an_initreg_error_naming_it():
    class TensorLike:  # torch.zeros(2, 3): a shape and a dtype NumPy does not know
        shape, dtype = (2, 3), "torch.float32"

    with pytest.raises(initreg.ParameterValueError, match="out=TensorLike is not a NumPy or CuPy array"):
        initreg.values("normal", (2, 3), name="w", seed=0, out=TensorLike())


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">f2", ">i4"])
def test_a_dtype_in_the_other_byte_order_is_refused_naming_the_fix(dtype):
    native = np.dtype(dtype).newbyteorder("=").name
    with pytest.raises(initreg.DTypeError, match=f"not in this machine's byte order; use '{native}'"):
        initreg.values("normal" if dtype[1] == "f" else "zeros", (4, 5), name="w", seed=0, dtype=dtype)
    with pytest.raises(initreg.DTypeError, match="byte order"):
        Parameter("w", shape=(3,), dtype=dtype)


@pytest.mark.parametrize("shape, index", [((2**62, 4), None), ((2**70,), None), ((0, 2**70), None),
                                          ((2**70,), slice(0, 4))])
def test_a_shape_no_array_can_have_is_a_shape_error(shape, index):
    with pytest.raises(initreg.ShapeError, match="larger than any array can be"):
        initreg.values("normal", shape, name="w", seed=0, index=index)


def test_values_that_do_not_fit_in_memory_are_an_allocation_error_naming_the_parameter():
    huge = (2**24, 2**22)  # 256 TiB: more than x86-64's 128 TiB of user address space, so no overcommit can grant it
    with pytest.raises(initreg.AllocationError, match=r"'w'.*262,144\.0 GiB.*regions") as info:
        initreg.values("normal", huge, name="w", seed=0)
    assert isinstance(info.value, MemoryError)
    p = Parameter("w", shape=huge)
    with pytest.raises(initreg.AllocationError):
        p.initialize("normal", seed=0)
    assert p.state == "declared"
    assert initreg.values("normal", huge, name="w", seed=0, index=(slice(0, 2), slice(0, 3))).shape == (2, 3)
