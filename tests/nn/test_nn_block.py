"""Block trees: structural names, collect_params, deferred initialization through forward, re-initialization."""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg import nn
from initreg.errors import (DeferredInitializationError, GradientError, InitializationError, InitregError,
                            LayerError, ReinitializationWarning, ShapeError, UninitializedError)
from initreg.std import Constant, Normal
from nn_helpers import Counting


def mlp(in_units=None):
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu", in_units=in_units), nn.Dense(10, in_units=in_units and 256))
    return net


X = np.random.default_rng(0).uniform(size=(2, 20)).astype("float32")


# -- the tutorial's MLP ------------------------------------------------------------------------------

def test_mlp_shapes_are_unknown_until_the_first_batch():
    net = mlp()
    params = net.collect_params()
    assert list(params) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert params["0.weight"].shape == (256, None) and params["1.weight"].shape == (10, None)
    net.initialize(seed=0)
    assert params["0.weight"].state == "deferred" and params["1.weight"].state == "deferred"
    y = net(X)
    assert y.shape == (2, 10)
    assert params["0.weight"].shape == (256, 20) and params["1.weight"].shape == (10, 256)
    assert all(p.state == "initialized" for p in params.values())


def test_repr_before_and_after_the_first_batch():
    net = mlp()
    assert repr(net) == "Sequential(\n  (0): Dense(None -> 256, relu)\n  (1): Dense(None -> 10, linear)\n)"
    assert "0.weight (shape=(256, None)" in repr(net.collect_params())
    net.initialize()
    net(X)
    assert repr(net) == "Sequential(\n  (0): Dense(20 -> 256, relu)\n  (1): Dense(256 -> 10, linear)\n)"
    assert "0.weight (shape=(256, 20), dtype=float32, state=initialized)" in repr(net.collect_params())


def test_data_before_initialization_and_before_the_first_batch_names_the_parameter():
    net = mlp()
    with pytest.raises(UninitializedError, match="'0.weight'"):
        net[0].weight.data()
    net.initialize()
    with pytest.raises(DeferredInitializationError, match="'0.weight'.*forward pass"):
        net[0].weight.data()
    with pytest.raises(UninitializedError, match="initialize"):  # forward without initialize: same error
        mlp()(X)


def test_forward_matches_the_dense_formula():
    net = mlp(in_units=20)
    net.initialize(Normal(0.5), seed=3)
    net[0].bias.set_data(np.linspace(-1, 1, 256))
    w0, b0, w1, b1 = (p.data() for p in net.collect_params().values())
    expected = np.maximum(X @ w0.T + b0, 0) @ w1.T + b1
    np.testing.assert_allclose(net(X), expected, rtol=1e-5, atol=1e-6)


def test_in_units_initializes_at_once():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu", in_units=20), nn.Dense(10, in_units=256))
    counter = Counting()
    net.initialize(counter)
    assert counter.calls == {"0.weight": 1, "1.weight": 1}
    assert net[0].weight.state == "initialized" and net[0].weight.shape == (256, 20)


def test_custom_initializer_runs_once_per_parameter_over_two_forward_passes():
    net = mlp()
    counter = Counting()
    net.initialize(counter)
    assert counter.calls == {}  # nothing is drawn while shapes are unknown
    net(X)
    net(X)
    assert counter.calls == {"0.weight": 1, "1.weight": 1}  # biases keep their declared "zeros"
    assert not net[0].bias.data().any()

    every = Counting()
    net = nn.Sequential()
    net.add(nn.Dense(4, bias_initializer=every), nn.Dense(3, bias_initializer=every))
    net.initialize(every)
    net(X)
    net(X)
    assert every.calls == {"0.weight": 1, "0.bias": 1, "1.weight": 1, "1.bias": 1}


def test_force_reinit_draws_again_and_without_it_nothing_changes():
    net = mlp()
    counter = Counting()
    net.initialize(counter)
    net(X)
    before = net[0].weight.data().copy()
    with pytest.warns(ReinitializationWarning):
        net.initialize(Constant(3.0))
    np.testing.assert_array_equal(net[0].weight.data(), before)
    net.initialize(counter, force_reinit=True)
    assert counter.calls == {"0.weight": 2, "1.weight": 2}


def test_reinitializing_one_layer_keeps_the_declared_bias():
    net = mlp()
    net.initialize(Normal(0.01), seed=1)
    net(X)
    first = net[0].weight.data().copy()
    net[1].bias.set_data(np.full(10, 0.0))
    net[1].initialize(Constant(42), force_reinit=True)
    assert np.all(net[1].weight.data() == 42)
    assert np.all(net[1].bias.data() == 0)
    np.testing.assert_array_equal(net[0].weight.data(), first)


def test_one_parameter_can_be_reinitialized_alone():
    net = mlp()
    net.initialize(Constant(1.0))
    net(X)
    net[0].weight.initialize(Constant(2.0), force_reinit=True)
    assert np.all(net[0].weight.data() == 2) and np.all(net[1].weight.data() == 1)


def test_initialize_passes_patterns_and_options_to_the_rules():
    net = mlp(in_units=20)
    net.initialize({"*.weight": Constant(7.0), "1.bias": Constant(-1.0)})
    assert np.all(net[0].weight.data() == 7) and np.all(net[1].weight.data() == 7)
    assert np.all(net[1].bias.data() == -1) and np.all(net[0].bias.data() == 0)
    with pytest.raises(initreg.RuleError):  # strict=True reaches the rules: a pattern that matches nothing fails
        mlp(in_units=20).initialize({"*.gamma": Constant(1.0)}, strict=True)


# -- names and collect_params --------------------------------------------------------------------------

class Model(nn.Block):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential()
        self.encoder.add(nn.Dense(8, activation="tanh"), nn.Dense(4))
        self.head = nn.Dense(2)

    def forward(self, x):
        return self.head(self.encoder(x))


def test_names_are_structural_paths():
    m = Model()
    assert list(m.collect_params()) == ["encoder.0.weight", "encoder.0.bias", "encoder.1.weight",
                                        "encoder.1.bias", "head.weight", "head.bias"]
    assert m.encoder[1].bias.name == "encoder.1.bias"
    assert repr(m).startswith("Model(\n  (encoder): Sequential(\n    (0): Dense(None -> 8, tanh)")


def test_attaching_a_built_tree_renames_its_parameters():
    enc = nn.Sequential()
    enc.add(nn.Dense(3), nn.Dense(3))
    assert enc[1].weight.name == "1.weight"
    outer = nn.Sequential()
    outer.add(nn.Dense(5))
    outer.add(enc)
    assert list(outer.collect_params()) == ["0.weight", "0.bias", "1.0.weight", "1.0.bias", "1.1.weight", "1.1.bias"]
    lone = nn.Dense(3)
    assert lone.weight.name == "weight"


def test_custom_block_forward_infers_shapes_through_children():
    m = Model()
    m.initialize(seed=0)
    y = m(np.ones((5, 3, 2)))  # flattened to 6 features
    assert y.shape == (5, 2)
    assert m.encoder[0].weight.shape == (8, 6) and m.head.weight.shape == (2, 4)
    with pytest.raises(GradientError, match="Model.*vjp"):
        m.backward(np.ones((5, 2)))


def test_select_uses_glob_and_regex():
    m = Model()
    assert list(m.collect_params("*.bias")) == ["encoder.0.bias", "encoder.1.bias", "head.bias"]
    assert list(m.collect_params("re:encoder\\.\\d\\.weight")) == ["encoder.0.weight", "encoder.1.weight"]
    m.collect_params("head.*").initialize(Constant(1.0), force_reinit=True)
    assert m.head.bias.state == "initialized" and m.encoder[0].bias.state == "declared"


def test_a_block_placed_twice_is_collected_once_and_keeps_its_first_path():
    shared = nn.Dense(4, in_units=4)
    net = nn.Sequential()
    net.add(shared, nn.Dense(4), shared)
    assert list(net.collect_params()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert len(net) == 3 and net[2] is shared


def test_sequential_indexing_iteration_and_slices():
    net = nn.Sequential()
    layers = [nn.Dense(3), nn.Dense(4), nn.Dense(5)]
    assert net.add(*layers) is net
    assert list(net) == layers and net[-1] is layers[2] and len(net) == 3
    tail = net[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == layers[1:]
    assert list(tail.collect_params()) == ["1.weight", "1.bias", "2.weight", "2.bias"]  # a view keeps names
    with pytest.raises(IndexError, match="3 blocks"):
        net[3]


def test_structural_errors():
    net = nn.Sequential()
    with pytest.raises(LayerError, match="cycle"):
        net.add(net)
    with pytest.raises(LayerError, match="only Blocks"):
        net.add("dense")

    class Forgot(nn.Block):
        def __init__(self):
            self.fc = nn.Dense(3)

    with pytest.raises(LayerError, match=r"super\(\).__init__"):
        Forgot()


# -- tied parameters -----------------------------------------------------------------------------------

def tied_net():
    net = nn.Sequential()
    shared = nn.Dense(8, activation="relu")
    net.add(nn.Dense(8, activation="relu"), shared, nn.Dense(8, activation="relu", params=shared.params),
            nn.Dense(10))
    return net


def test_tied_parameters_are_one_object_listed_once():
    net = tied_net()
    assert net[1].weight is net[2].weight and net[1].bias is net[2].bias
    assert list(net.collect_params()) == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    net.initialize(seed=0)
    net(X)
    assert net[2].weight.shape == (8, 8)
    net[1].weight.data()[0, 0] = 100
    assert net[2].weight.data()[0, 0] == 100


def test_tied_gradient_is_the_sum_of_both_uses():
    net = tied_net()
    net.initialize(Normal(0.5), seed=0)
    x = np.random.default_rng(1).standard_normal((3, 20))
    dy = np.random.default_rng(2).standard_normal((3, 10))
    net(x)
    net.backward(dy)
    tied = net[1].weight.grad().copy(), net[1].bias.grad().copy()

    # the same network with layer 2 holding its own copies of the values
    twin = nn.Sequential()
    twin.add(nn.Dense(8, activation="relu"), nn.Dense(8, activation="relu"), nn.Dense(8, activation="relu"),
             nn.Dense(10))
    twin.initialize()
    twin(x)
    for src, dst in zip([0, 1, 1, 3], range(4)):
        twin[dst].weight.set_data(net[src].weight.data())
        twin[dst].bias.set_data(net[src].bias.data())
    np.testing.assert_allclose(twin(x), net(x), rtol=1e-6)
    twin.backward(dy)
    np.testing.assert_allclose(tied[0], twin[1].weight.grad() + twin[2].weight.grad(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tied[1], twin[1].bias.grad() + twin[2].bias.grad(), rtol=1e-5, atol=1e-6)
    assert np.abs(twin[2].weight.grad()).sum() > 0 and np.abs(twin[1].weight.grad()).sum() > 0


def test_sharing_checks_the_layers_fit():
    a = nn.Dense(8, in_units=4)
    with pytest.raises(LayerError, match="'weight' has shape \\(8, 4\\).*\\(6, None\\)"):
        nn.Dense(6, params=a.params)
    with pytest.raises(LayerError, match="must hold a parameter 'bias'"):
        nn.Dense(8, params=nn.Dense(8, use_bias=False).params)
    with pytest.raises(LayerError, match="dtype float32.*float64"):
        nn.Dense(8, dtype="float64", params=a.params)
    b = nn.Dense(8, params=nn.Dense(8).params, in_units=5)  # the new layer may complete the shared shape
    assert b.weight.shape == (8, 5)


@pytest.mark.parametrize("make, use", [
    (lambda: nn.Dense(8, use_bias=False), lambda shared: nn.Dense(8, in_units=5, params=shared.params)),
    (lambda: nn.Conv2D(4, 3, use_bias=False), lambda shared: nn.Conv2D(4, 3, in_channels=2, params=shared.params)),
    (lambda: nn.BatchNorm(), lambda shared: nn.BatchNorm(in_channels=3, params={
        k: v for k, v in shared.params.items() if k != "running_var"})),
])
def test_a_sharing_layer_that_fails_leaves_the_shared_parameters_as_they_were(make, use):
    shared = make()
    shared.initialize(seed=0)  # deferred: a layer that completes the shapes draws them
    before = {k: (p.state, p.shape) for k, p in shared.params.items()}
    with pytest.raises(LayerError, match="must hold a parameter"):
        use(shared)
    assert {k: (p.state, p.shape) for k, p in shared.params.items()} == before


# -- atomicity ------------------------------------------------------------------------------------------

class FailsOn(initreg.Initializer):
    def __init__(self, role: str):
        self.role = role

    def fill(self, desc, out, rng):
        if desc.role == self.role:
            raise RuntimeError("boom")
        out[...] = 0.25


def test_a_layer_whose_second_parameter_fails_leaves_the_first_untouched():
    bn = nn.BatchNorm(beta_initializer=FailsOn("beta"))
    bn.initialize()
    with pytest.raises(InitializationError, match="'beta'.*boom"):
        bn(np.ones((2, 3, 4, 4)))
    assert bn.gamma.state == "deferred" and bn.gamma.shape == (None,)
    with pytest.raises(DeferredInitializationError):
        bn.gamma.data()
    bn.beta.init = "zeros"
    bn.initialize(force_reinit=True)
    assert bn(np.ones((2, 3, 4, 4))).shape == (2, 3, 4, 4)
    assert np.all(bn.gamma.data() == 1)


def test_a_failing_layer_undoes_the_earlier_layers_of_the_pass():
    # the whole call is atomic: the first layer, drawn before the second failed, is deferred again
    net = nn.Sequential()
    net.add(nn.Dense(4), nn.Dense(3, weight_initializer=FailsOn("weight")))
    net.initialize(Constant(1.0))
    with pytest.raises(InitializationError):
        net(X)
    assert net[0].weight.state == "deferred" and net[0].weight.shape == (4, None)
    assert net[1].weight.state == "deferred" and net[1].weight.shape == (3, None)
    with pytest.raises(DeferredInitializationError):
        net[0].weight.data()
    net[1].weight.init = "zeros"
    net[1].initialize(force_reinit=True)
    assert net(X).shape == (X.shape[0], 3) and np.all(net[0].weight.data() == 1)


# -- shapes that cannot be inferred ------------------------------------------------------------------------

def test_errors_name_the_layer_and_the_missing_size():
    net = mlp()
    net.initialize()
    with pytest.raises(ShapeError, match="Dense '0'.*in_units.*\\(20,\\)"):
        net(np.ones(20))
    conv = nn.Conv2D(2, 3)
    conv.initialize()
    with pytest.raises(ShapeError, match="Conv2D.*in_channels.*\\(8, 9, 9\\)"):
        conv(np.ones((8, 9, 9)))
    with pytest.raises(ShapeError, match="height 2 with padding 0 is smaller than the kernel"):
        conv(np.ones((1, 1, 2, 9)))
    with pytest.raises(ShapeError, match="BatchNorm.*in_channels.*axis 3"):
        nn.BatchNorm(axis=3)(np.ones((2, 3)))
    for err in (ShapeError,):
        assert issubclass(err, InitregError) and issubclass(err, ValueError)


def test_a_known_size_that_the_input_contradicts_names_the_layer():
    net = mlp()
    net.initialize()
    net(X)
    with pytest.raises(ShapeError, match="Dense '0'.*30 features.*in_units is 20"):
        net(np.ones((2, 30)))
    conv = nn.Conv2D(2, 3, in_channels=3)
    conv.initialize()
    with pytest.raises(ShapeError, match="4 channels but in_channels is 3"):
        conv(np.ones((1, 4, 5, 5)))


def test_bad_layer_arguments():
    for make, match in [(lambda: nn.Dense(0), "units must be a positive int"),
                        (lambda: nn.Dense(3, activation="softmax"), "activation='softmax'"),
                        (lambda: nn.Dense(3, in_units=-1), "in_units"),
                        (lambda: nn.Conv2D(2, (3,)), "kernel_size"),
                        (lambda: nn.Conv2D(2, 3, padding=-1), "padding"),
                        (lambda: nn.Conv2D(2, 3, strides=0), "strides"),
                        (lambda: nn.BatchNorm(momentum=2), "momentum"),
                        (lambda: nn.Activation("linear"), "names no function")]:
        with pytest.raises(LayerError, match=match):
            make()


# -- backward bookkeeping -------------------------------------------------------------------------------------

def test_grad_req_write_add_null():
    net = mlp(in_units=20)
    net.initialize(Normal(0.1), seed=0)
    dy = np.ones((2, 10), dtype="float32")
    net(X)
    net.backward(dy)
    once = net[1].weight.grad().copy()
    assert np.abs(once).sum() > 0
    net(X)
    net.backward(dy)
    np.testing.assert_array_equal(net[1].weight.grad(), once)  # "write" replaces

    net[1].weight.grad_req = "add"
    net.zero_grad()
    net(X)
    net.backward(dy)
    net(X)
    net.backward(dy)
    np.testing.assert_allclose(net[1].weight.grad(), 2 * once, rtol=1e-6)  # starts from zero, adds twice
    net.zero_grad()
    assert not net[1].weight.grad().any()

    net[0].weight.grad_req = "null"
    net(X)
    net.backward(dy)
    with pytest.raises(GradientError, match="'0.weight'.*null"):
        net[0].weight.grad()


def test_backward_needs_a_forward_and_one_per_forward():
    net = mlp(in_units=20)
    net.initialize()
    with pytest.raises(GradientError, match="forward pass first"):
        net.backward(np.ones((2, 10)))
    net(X)
    net.backward(np.ones((2, 10)))
    with pytest.raises(GradientError, match="forward pass first"):
        net.backward(np.ones((2, 10)))


def test_failed_backward_changes_no_gradient():
    net = mlp(in_units=20)
    net.initialize(Normal(0.1), seed=0)
    net(X)
    net.backward(np.ones((2, 10)))
    before = net[1].weight.grad().copy()
    net(X)
    net[0]._tape.clear()  # the first layer forgot its forward: the pass fails half way
    with pytest.raises(GradientError):
        net.backward(np.full((2, 10), 5.0))
    np.testing.assert_array_equal(net[1].weight.grad(), before)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copied_network_is_whole_and_separate(how):
    import copy
    import pickle

    net = nn.Sequential()
    net.add(nn.Dense(5, activation="relu"), nn.Dense(2))
    net.initialize(initreg.std.Xavier(), seed=3)
    x = np.ones((4, 3), np.float32)
    y = net(x)
    twin = copy.deepcopy(net) if how == "deepcopy" else pickle.loads(pickle.dumps(net))
    assert np.array_equal(twin(x), y)
    child = twin[0]
    assert child._parent() is twin  # linked to the copy, not to the original
    original, copied = net.collect_params(), twin.collect_params()
    assert list(copied) == list(original)
    for name in original:
        assert copied[name] is not original[name]
        assert copied[name].record == original[name].record
    copied["0.weight"].data()[...] = 0.0
    assert not np.all(original["0.weight"].data() == 0.0)
    outer = nn.Sequential()
    outer.add(twin)  # attaching the copy renames its own parameters, as for any fresh block
    assert "0.0.weight" in outer.collect_params()


@pytest.mark.parametrize("x", [np.array([["a", "b"]]), np.array([[1, None]], dtype=object), np.array([[1 + 2j, 3]]),
                               [[1, 2], [3]]])
def test_an_input_that_is_not_real_numbers_is_a_layer_error(x):
    net = nn.Sequential()
    net.add(nn.Dense(3), nn.Dense(2))
    net.initialize(seed=0)
    before = {k: (p.state, p.shape) for k, p in net.collect_params().items()}
    with pytest.raises(LayerError, match="real numbers"):
        net(x)
    assert {k: (p.state, p.shape) for k, p in net.collect_params().items()} == before  # weights still deferred


@pytest.mark.parametrize("index", ["a", 1.5, True])
def test_blocks_are_indexed_by_position(index):
    net = nn.Sequential()
    net.add(nn.Dense(3))
    with pytest.raises(LayerError, match="indexed by position"):
        net[index]


def test_a_nested_call_that_fails_and_is_caught_leaves_what_it_started_as_it_was():
    class Fallback(nn.Block):
        def __init__(self):
            super().__init__()
            self.risky = nn.Sequential()
            self.risky.add(nn.Dense(4), nn.Dense(3, in_units=7))  # wrong in_units: its second layer fails
            self.safe = nn.Dense(3)

        def forward(self, x):
            try:
                return self.risky(x)
            except initreg.ShapeError:
                return self.safe(x)

    f = Fallback()
    f.initialize(seed=0)
    y = f(np.ones((2, 5), np.float32))
    assert y.shape == (2, 3) and f.safe.weight.shape == (3, 5)
    assert (f.risky[0].weight.state, f.risky[0].weight.shape) == ("deferred", (4, None))  # was drawn at (4, 5)
