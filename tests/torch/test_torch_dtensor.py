"""DTensor parameters (distribute_tensor placements, FSDP2 fully_shard) on real gloo groups of 2, 3 and 4 processes.

Every rank fills only its local shard; the tensor gathered from all ranks must equal the single-process
``initreg.values`` of the whole tensor bit for bit, and each rank's region must be the one ``torch.chunk``
gives (computed here independently of the code under test).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch.distributed.tensor")

import initreg  # noqa: E402

pytestmark = pytest.mark.slow  # gloo process groups of 2-3 processes: seconds each

WORKER = Path(__file__).with_name("dtensor_worker.py")
SEED = 1234
TIMEOUT_S = 90  # a whole group, startup included; a hung collective fails the test instead of the suite

# (name, full shape, initializer, dtype, placements); "S0" = Shard(0), "R" = Replicate
CASES = [
    ("rows", (13, 7), ["normal", {"sigma": 0.02}], "float32", ["S0"]),
    ("cols", (13, 7), "uniform", "float32", ["S1"]),
    ("replicated", (13, 7), "xavier", "float32", ["R"]),
    ("empty_shard", (2, 5), "normal", "float32", ["S0"]),  # 3 ranks: torch.chunk gives 1, 1 and 0 rows
    ("bias", (11,), "uniform", "float32", ["S0"]),
    ("orthogonal", (13, 7), "orthogonal", "float32", ["S0"]),  # a whole-tensor initializer
    ("sparse", (9, 6), "sparse", "float32", ["S1"]),
    ("bf16", (13, 7), "normal", "bfloat16", ["S1"]),
    ("bf16_orthogonal", (13, 7), "orthogonal", "bfloat16", ["S0"]),
    ("f64", (5, 3, 4), "normal", "float64", ["S2"]),
    ("f16", (13, 7), "normal", "float16", ["S0"]),
    ("big", (4100, 3), "normal", "float32", ["S0"]),
    ("scalar", (), "normal", "float32", ["R"]),  # several stream blocks, shard edges inside blocks
]
MESH_CASES = [  # a 2-d mesh (2, 2): placements per mesh dimension
    ("mesh_rows_cols", (13, 7), "normal", "float32", ["S0", "S1"]),
    ("mesh_rows_rows", (13, 7), "normal", "float32", ["S0", "S0"]),  # dim 0 split twice: 7|6, then 4|3 and 3|3
    ("mesh_replicate_cols", (13, 7), "uniform", "float32", ["R", "S1"]),
]
FSDP_SHAPES = {"0.weight": (13, 7), "0.bias": (13,), "1.weight": (13,), "1.bias": (13,), "2.weight": (5, 13)}
FSDP_RULES = {"*.weight": ["normal", {"sigma": 0.02}], "1.bias": "zeros", "0.bias": "uniform"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_group(world: int, cases: list, mesh: tuple | None, out: Path) -> Path:
    """Run the worker in ``world`` processes on 127.0.0.1."""
    spec = {"seed": SEED, "cases": [{"name": n, "shape": list(s), "init": i, "dtype": d, "placements": p,
                                     **({"mesh": list(mesh)} if mesh else {})} for n, s, i, d, p in cases]}
    (out / "cases.json").write_text(json.dumps(spec))
    launch([str(WORKER), str(out / "cases.json"), str(out)], world, out)
    return out


# Runs a rank's script, then leaves without interpreter teardown: PyTorch's gloo worker thread can still be releasing a
# finished collective then and CPython ends it mid-destructor (SIGABRT after the script's last line; see
# docs/torch-distributed.md). An exception in the script still exits non-zero before os._exit is reached.
RANK_RUNNER = ("import os, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
               "sys.stdout.flush(); sys.stderr.flush(); os._exit(0)")


def launch(argv: list[str], world: int, cwd: Path) -> list[str]:
    """Run ``python argv`` as ranks 0..world-1 of a gloo group on 127.0.0.1; their outputs (all in the failure)."""
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(world),
           "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", RANK_RUNNER, *argv], cwd=cwd,
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(world)]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=TIMEOUT_S)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    codes = [p.returncode for p in procs]
    assert codes == [0] * world, "\n".join(f"--- rank {r} (exit {c}):\n{o[-3000:]}"
                                           for r, (c, o) in enumerate(zip(codes, outputs)))
    return outputs


def chunk_bounds(n: int, parts: int, i: int) -> tuple[int, int]:
    """Rows of chunk ``i`` of ``torch.chunk(range(n), parts)``; (n, n) when that chunk does not exist."""
    size = -(-n // parts) if n else 0
    start = min(i * size, n)
    return start, min(start + size, n)


def expected_region(shape, placements, coord, mesh_shape):
    """[(start, stop)] per dimension, by torch.chunk applied mesh dimension by mesh dimension; "empty" if none."""
    bounds = [(0, n) for n in shape]
    for p, c, k in zip(placements, coord, mesh_shape):
        if p != "R":
            d = int(p[1:])
            lo, hi = bounds[d]
            a, b = chunk_bounds(hi - lo, k, c)
            bounds[d] = (lo + a, lo + b)
    return normal(bounds)


def normal(bounds) -> list:
    """Bounds as tuples, or "empty" for a region with no elements (where an empty shard starts is immaterial)."""
    bounds = [tuple(b) for b in bounds]
    return "empty" if any(a >= b for a, b in bounds) else bounds


def reference(name, shape, init, dtype) -> np.ndarray:
    """The single-process values of the whole tensor (bfloat16: torch's rounding of the float32 values, as bits)."""
    row = initreg.plan([initreg.Entry(name, shape)], {name: init}, seed=SEED)[name]
    full = initreg.values(row.initializer, shape, name=name, seed=SEED, dtype="float32" if dtype == "bfloat16"
                          else dtype)
    if dtype == "bfloat16":
        return torch.from_numpy(full).to(torch.bfloat16).view(torch.int16).numpy()
    return full


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.fixture(scope="module", params=[2, 3])
def group(request, tmp_path_factory):
    world = request.param
    return world, run_group(world, CASES, None, tmp_path_factory.mktemp(f"world{world}"))


def test_gathered_equals_single_process_values(group):
    world, out = group
    gathered = np.load(out / "gathered.npz")
    for name, shape, init, dtype, _ in CASES:
        assert same_bits(gathered[name], reference(name, shape, init, dtype)), f"{name} on {world} ranks"


def test_each_rank_holds_the_torch_chunk_region(group):
    world, out = group
    for rank in range(world):
        regions = json.loads((out / f"regions-{rank}.json").read_text())
        for name, shape, _, _, placements in CASES:
            assert normal(regions[name]) == expected_region(shape, placements, [rank], [world]), (name, rank)
    if world == 3:  # the uneven cases really are uneven: 13 rows as 5, 5, 3; 2 rows as 1, 1, 0
        sizes = [json.loads((out / f"regions-{r}.json").read_text())["empty_shard"][0] for r in range(3)]
        assert [b - a for a, b in sizes] == [1, 1, 0]


@pytest.mark.parametrize("case, kind, fragment", [
    ("wrong_shape", "ShapeError", "full shape is (6, 4) but the plan says (4, 6)"),
    ("partial", "ParameterValueError", "Partial"),
    ("integer", "DTypeError", "torch.int32"),
    ("meta", "ParameterValueError", "meta device"),
])
def test_bad_input_names_the_parameter_and_changes_nothing(group, case, kind, fragment):
    world, out = group
    for rank in range(world):
        err = json.loads((out / f"errors-{rank}.json").read_text())[case]
        assert kind in err["type"] and "InitregError" in err["type"] and err["kept"], err
        assert fragment in err["message"] and f"'p.{case}'" in err["message"], err


def test_fsdp2_fully_shard_parameters(group):
    world, out = group
    gathered = np.load(out / "gathered.npz")
    table = initreg.plan([initreg.Entry(n, s) for n, s in FSDP_SHAPES.items()], FSDP_RULES, seed=SEED)
    plain = torch.nn.Sequential(torch.nn.Linear(7, 13), torch.nn.LayerNorm(13), torch.nn.Linear(13, 5, bias=False))
    with torch.no_grad():
        for n, p in plain.named_parameters():
            want = initreg.values(table[n].initializer, FSDP_SHAPES[n], name=n, seed=SEED)
            assert same_bits(gathered["fsdp." + n], want), n
            p.copy_(torch.from_numpy(want))
        for rank in range(world):
            regions = json.loads((out / f"regions-{rank}.json").read_text())
            for n, s in FSDP_SHAPES.items():
                assert normal(regions["fsdp." + n]) == expected_region(s, ["S0"], [rank], [world]), (n, rank)
        # the sharded model computes what the unsharded one with the same values computes
        x = torch.linspace(-1, 1, 3 * 7).reshape(3, 7)
        np.testing.assert_allclose(gathered["fsdp.forward"], plain(x).numpy(), rtol=1e-6, atol=1e-7)


def test_adapter_initialize_on_fully_shard_model(group):
    adapter = pytest.importorskip("initreg.torch")
    if not hasattr(adapter, "initialize"):
        pytest.skip("initreg.torch.initialize is not in this branch")
    _, out = group
    gathered = np.load(out / "gathered.npz")
    plain = torch.nn.Sequential(torch.nn.Linear(7, 13), torch.nn.LayerNorm(13), torch.nn.Linear(13, 5, bias=False))
    for row in adapter.plan(plain, FSDP_RULES, seed=SEED):
        want = initreg.values(row.initializer, row.shape, name=row.name, seed=SEED)
        assert same_bits(gathered["adapter." + row.name], want), row.name


def test_adapter_materializes_a_meta_fully_shard_model_with_the_one_process_values(group):
    _, out = group
    gathered = np.load(out / "gathered.npz")
    plain = torch.nn.Sequential(torch.nn.Linear(7, 13), torch.nn.LayerNorm(13), torch.nn.Linear(13, 5, bias=False))
    import initreg.torch as adapter

    adapter.initialize(plain, FSDP_RULES, seed=SEED)
    for name, p in plain.named_parameters():
        assert same_bits(gathered["meta." + name], p.detach().numpy()), name
    x = torch.linspace(-1, 1, 3 * 7).reshape(3, 7)
    np.testing.assert_allclose(gathered["meta.forward"], plain(x).detach().numpy(), rtol=1e-6, atol=1e-7)


def test_two_dimensional_mesh(tmp_path):
    out = run_group(4, MESH_CASES, (2, 2), tmp_path)
    gathered = np.load(out / "gathered.npz")
    for name, shape, init, dtype, placements in MESH_CASES:
        assert same_bits(gathered[name], reference(name, shape, init, dtype)), name
        for rank in range(4):
            got = json.loads((out / f"regions-{rank}.json").read_text())[name]
            assert normal(got) == expected_region(shape, placements, divmod(rank, 2), (2, 2)), (name, rank)


def test_fsdp2_recipe_of_the_docs_on_three_processes(tmp_path):
    page = Path(__file__).resolve().parents[2] / "docs" / "torch-distributed.md"
    (script,) = [b for b in re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M)
                 if "init_process_group" in b]
    (tmp_path / "fsdp_init.py").write_text(script)
    outputs = launch([str(tmp_path / "fsdp_init.py")], 3, tmp_path)
    for rank, text in enumerate(outputs):  # the block asserts the gathered values itself, on every rank
        a, b = chunk_bounds(250, 3, rank)
        assert f"rank {rank} of 3: rows {a}:{b} of (250, 64)" in text
    assert "output (2, 10)" in outputs[0]
