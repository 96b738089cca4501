"""Issue 17: what a Gluon (or PyTorch) user reaches for, each item tested from its reproducer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import initreg
from initreg import init, nn
from initreg.errors import (CheckpointKeyError, DeviceError, EmptySelectionWarning, InitializerTypeError,
                            ReinitializationWarning, ShapeError, SharedStreamWarning, UninitializedError)

X = np.random.default_rng(0).uniform(size=(2, 20)).astype(np.float32)


def mlp(prefix=None):
    net = nn.Sequential(prefix=prefix)
    net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
    return net


@pytest.fixture
def global_seed():
    before = initreg.get_seed()
    initreg.seed(7)
    yield 7
    initreg.seed(before)


# -- 1. a Gluon-style initializer is refused where it is written ---------------------------------------

def test_a_gluon_init_weight_hook_is_refused_at_class_definition_with_the_translation():
    with pytest.raises(InitializerTypeError) as info:
        class MyInit(init.Initializer):
            def _init_weight(self, name, data):
                print("Init", name, data.shape)
    msg = str(info.value)
    assert "MyInit" in msg and "_init_weight" in msg and "fill(self, desc, out, rng)" in msg and "out=out" in msg


def test_an_initializer_without_fill_fails_at_initialize_not_at_the_first_forward():
    class Nothing(init.Initializer):
        pass

    net = mlp()
    with pytest.raises(InitializerTypeError, match="Nothing does not implement fill"):
        net.initialize(Nothing())
    assert all(p.state == "declared" for p in net.collect_params().values())


def test_the_ported_tutorial_initializer_runs():
    class MyInit(init.Initializer):
        def fill(self, desc, out, rng):
            out[...] = rng.uniform(-10, 10, size=out.shape)  # the NumPy Generator spelling works (item 9)
            out *= np.abs(out) >= 5

    net = mlp()
    net.initialize(MyInit(), seed=0)
    net(X)
    w = net[0].weight.data()
    assert np.all((w == 0) | (np.abs(w) >= 5)) and np.abs(w).max() <= 10


# -- 9. rng accepts size= like a NumPy Generator, and says what it needs -------------------------------

def test_stream_size_form_draws_what_the_out_form_draws():
    s = initreg.Stream(3, "w")
    out = np.empty((4, 5))
    s.uniform(-2, 3, out=out)
    np.testing.assert_array_equal(s.uniform(-2, 3, size=(4, 5)), out)
    np.testing.assert_array_equal(s.normal(0, 1, size=7), s.normal(0, 1, out=np.empty(7)))
    assert s.random(size=3).dtype == np.float64
    with pytest.raises(TypeError, match="out=.*size="):
        s.uniform(-1, 1)
    with pytest.raises(ValueError, match="not both"):
        s.uniform(-1, 1, size=3, out=np.empty(3))


# -- 2. Load given to initialize() loads everything the file holds -------------------------------------

def trained(path):
    net = mlp()
    net.initialize(init.Normal(0.5), seed=1)
    net(X)
    for layer in net:
        layer.bias.set_data(np.arange(layer.units, dtype=np.float32) + 1)  # trained, non-zero biases
    net.save_parameters(path)
    return net


@pytest.mark.parametrize("ext", ["npz", "safetensors"])
def test_load_outranks_declared_initializers(tmp_path, ext):
    path = str(tmp_path / f"p.{ext}")
    source = trained(path)
    net = mlp()
    net.initialize(init.Load(path))
    net(X)
    for a, b in zip(source.collect_params().values(), net.collect_params().values()):
        np.testing.assert_array_equal(a.data(), b.data())
    assert net[0].bias.record["source"] == "load"
    assert initreg.explain(mlp(), init.Load(path))["0.bias"].source == "load"


def test_load_is_strict_about_missing_extra_and_shapes(tmp_path):
    path = str(tmp_path / "p.npz")
    trained(path)
    bigger = nn.Sequential()
    bigger.add(nn.Dense(256, activation="relu"), nn.Dense(10), nn.Dense(3))
    with pytest.raises(CheckpointKeyError, match="'2.weight'.*allow_missing"):
        bigger.initialize(init.Load(path))
    with pytest.raises(CheckpointKeyError, match="'2.weight'"):
        initreg.explain(bigger, init.Load(path))  # every path through the planner is equally strict
    with pytest.raises(CheckpointKeyError, match="'extra'"):
        initreg.plan([initreg.Entry("extra", (2,))], init.Load(path, ignore_extra=True))
    assert all(p.state == "declared" for p in bigger.collect_params().values())
    bigger.initialize(init.Load(path, allow_missing=True), seed=0)
    bigger(X)
    assert bigger[2].bias.record["source"] == "declared" and bigger[2].weight.record["source"] == "global default"
    first = nn.Sequential()
    first.add(nn.Dense(256, activation="relu"))
    with pytest.raises(CheckpointKeyError, match="'1.bias'.*ignore_extra"):
        first.initialize(init.Load(path))
    first.initialize(init.Load(path, ignore_extra=True))
    wrong = nn.Sequential()
    wrong.add(nn.Dense(128, in_units=20), nn.Dense(10))
    with pytest.raises(ShapeError, match=r"\(256, 20\).*\(128, 20\)"):
        wrong.initialize(init.Load(path))
    assert all(p.state == "declared" for p in wrong.collect_params().values())


def test_load_spec_round_trips_with_its_new_arguments(tmp_path):
    path = str(tmp_path / "p.npz")
    for loader in (init.Load(path, allow_missing=True), init.Load(path, ignore_extra=True)):
        assert initreg.create(loader.dumps()) == loader
    with pytest.raises(initreg.InitializerArgumentError, match="allow_missing"):
        init.Load(path, allow_missing="yes")


# -- 3. save_parameters / load_parameters --------------------------------------------------------------

@pytest.mark.parametrize("ext", ["npz", "safetensors"])
def test_save_and_load_parameters_round_trip_into_a_deferred_network(tmp_path, ext):
    path = tmp_path / f"model.{ext}"
    source = trained(path)
    net = mlp()  # never initialized: the file completes the shapes
    net.load_parameters(path)
    assert net[0].weight.shape == (256, 20) and net[0].weight.state == "initialized"
    np.testing.assert_array_equal(net(X), source(X))
    again = mlp()
    again.initialize()  # deferred weights
    again.collect_params().load_parameters(str(path))
    np.testing.assert_array_equal(again(X), source(X))


def test_load_parameters_is_strict_and_all_or_nothing(tmp_path):
    path = tmp_path / "model.npz"
    trained(path)
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"), nn.Dense(10), nn.Dense(3))
    with pytest.raises(CheckpointKeyError, match="'2.weight'"):
        net.load_parameters(path)
    assert all(p.state == "declared" for p in net.collect_params().values())
    net.load_parameters(path, allow_missing=True)
    assert net[1].weight.state == "initialized" and net[2].weight.state == "declared"
    small = nn.Sequential()
    small.add(nn.Dense(256, activation="relu"))
    with pytest.raises(CheckpointKeyError, match="ignore_extra"):
        small.load_parameters(path)
    small.load_parameters(path, ignore_extra=True)
    other = tmp_path / "other.npz"
    initreg.checkpoints.files.save(other, {"0.weight": np.ones((256, 20)), "0.bias": np.ones(256),
                                    "1.weight": np.ones((10, 99)), "1.bias": np.ones(10)})
    built = nn.Sequential()
    built.add(nn.Dense(256, in_units=20), nn.Dense(10, in_units=256))
    built.initialize(init.Constant(2.0))
    with pytest.raises(ShapeError, match=r"'1.weight'.*\(10, 99\).*\(10, 256\)"):
        built.load_parameters(other)
    assert np.all(built[0].weight.data() == 2) and np.all(built[1].weight.data() == 2)  # the first fitted: unchanged


def test_save_parameters_refuses_a_network_without_values_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "model.npz"
    trained(path)
    before = path.read_bytes()
    net = mlp()
    net.initialize()
    with pytest.raises(UninitializedError, match="'0.weight'.*forward pass"):
        net.save_parameters(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.npz"]


# -- 4. ctx= and verbose= ------------------------------------------------------------------------------

def test_ctx_is_an_alias_of_device(capsys):
    conv = nn.Conv2D(channels=1, kernel_size=(3, 3))
    conv.initialize(init.Xavier(), ctx=initreg.cpu(0))
    assert conv.weight.list_devices() == [initreg.cpu(0)]
    with pytest.raises(DeviceError, match="ctx=.*device="):
        conv.initialize(device=initreg.cpu(0), ctx=initreg.cpu(0), force_reinit=True)
    path_net = mlp()
    path_net.initialize(ctx=initreg.cpu(0), seed=0)
    assert path_net[0].bias.list_devices() == [initreg.cpu(0)]


def test_verbose_prints_what_each_parameter_got(capsys):
    net = mlp()
    net.initialize(init.Xavier(), seed=3, verbose=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "seed: 3" and out[1].split() == ["name", "shape", "state", "source", "initializer"]
    rows = {line.split()[0]: line for line in out[2:]}
    assert "deferred" in rows["0.weight"] and "default" in rows["0.weight"] and "Xavier()" in rows["0.weight"]
    assert "initialized" in rows["0.bias"] and "declared" in rows["0.bias"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReinitializationWarning)
        net.initialize(verbose=True)
    assert "kept (already initialized)" in capsys.readouterr().out


# -- 5. regex-looking selections and empty initialize() warn -------------------------------------------

def test_gluon_regex_select_warns_with_the_translation():
    net = mlp()
    with pytest.warns(EmptySelectionWarning, match=r"'\.\*weight'.*regular expression.*2.*'re:\.\*weight'"):
        params = net.collect_params(".*weight")
    assert len(params) == 0
    with pytest.warns(EmptySelectionWarning, match="no parameters"):
        params.initialize()
    assert list(net.collect_params("re:.*weight")) == ["0.weight", "1.weight"]
    with pytest.warns(EmptySelectionWarning, match="whole name.*'re:.*weight'"):
        net.collect_params("re:weight")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(net.collect_params("*.bias")) == ["0.bias", "1.bias"]  # a match: no warning


# -- 7. two networks, one global seed ------------------------------------------------------------------

def test_same_names_under_the_global_seed_warn_and_prefixes_tell_networks_apart(global_seed):
    encoder, decoder = mlp(), mlp()
    encoder.initialize()
    with pytest.warns(SharedStreamWarning, match="'0.weight'.*prefix"):
        decoder.initialize()
    encoder(X), decoder(X)
    np.testing.assert_array_equal(encoder[0].weight.data(), decoder[0].weight.data())  # the contract, now announced
    enc, dec = mlp("encoder"), mlp("decoder")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SharedStreamWarning)
        enc.initialize()
        dec.initialize()
    enc(X), dec(X)
    assert enc[0].weight.name == "encoder.0.weight"
    assert not np.array_equal(enc[0].weight.data(), dec[0].weight.data())


def test_force_reinit_under_the_global_seed_warns_that_values_repeat(global_seed):
    net = mlp()
    net.initialize(init.Xavier())
    net(X)
    before = net[0].weight.data().copy()
    with pytest.warns(ReinitializationWarning, match="same values again.*'0.weight'.*seed="):
        net.initialize(init.Xavier(), force_reinit=True)
    np.testing.assert_array_equal(net[0].weight.data(), before)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.initialize(init.Xavier(), force_reinit=True, seed=8)  # an explicit seed: new values, no warning
    assert not np.array_equal(net[0].weight.data(), before)


def test_bad_prefix_is_refused():
    with pytest.raises(initreg.LayerError, match="prefix"):
        nn.Sequential(prefix="two words")


def test_load_parameters_failing_midway_undoes_the_earlier_parameters(tmp_path):
    path = initreg.checkpoints.files.save(tmp_path / "f.npz", {"a": np.ones(2), "b": np.full(2, 0.5)})
    params = initreg.ParameterDict([initreg.Parameter("a", shape=(2,)), initreg.Parameter("b", shape=None, dtype="int32")])
    with pytest.raises(initreg.InitializationError, match="'b'.*int32"):
        params.load_parameters(path)  # 'a' loads first; float64 cannot become int32 safely
    assert params["a"].state == "declared" and params["b"].state == "declared" and params["b"].shape is None


def test_a_single_parameter_takes_ctx_too():
    p = initreg.Parameter("w", shape=(2,))
    p.initialize("ones", ctx=initreg.cpu(0))
    assert p.list_devices() == [initreg.cpu(0)] and np.all(p.data() == 1)
    with pytest.raises(DeviceError, match="once"):
        initreg.Parameter("v", shape=(2,)).initialize(device=initreg.cpu(0), ctx=initreg.cpu(0))
