"""Wall time of ``initreg check`` on a GPT-2-sized checkpoint, and the power of its sampling mode.

    python benchmarks/check_speed.py [--layers 12] [--repeats 3] [--sample N] [--json]   # time the CLI's check
    python benchmarks/check_speed.py --layers 2 --profile                               # cProfile, top 25
    python benchmarks/check_speed.py --power [--seeds 10] [--sample N]                   # mutants' detection rate

The model is transformers' ``GPT2LMHeadModel(GPT2Config(n_layer=...))``, built and initialized by transformers
itself (its ``_init_weights``), its state dict saved with ``safetensors.torch.save_file`` (the tied ``lm_head``
left out, as ``save_pretrained`` does) and checked against the shipped ``recipe:gpt2`` rules with the model's
``n_layer``. Timing: each repeat is one whole ``initreg check`` in this process after a warm-up run (scipy
imported, file in the page cache); min and median are reported with the load average. Power: a fresh model per
seed, mutated as ``--power`` says, checked once; "detected" is a failing report that names the mutated tensor.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, Callable


def model(layers: int, seed: int = 0) -> Any:
    """transformers' GPT-2 with GPT2Config() defaults but ``layers`` blocks, initialized by transformers."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(n_layer=layers))


def save(net: Any, path: Path, mutate: Callable[[dict], None] | None = None) -> Path:
    """The state dict as safetensors (lm_head is wte's other name and is left out), ``mutate``d first."""
    from safetensors.torch import save_file

    state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()
             if k != "lm_head.weight" and v.is_floating_point()}
    if mutate is not None:
        mutate(state)
    save_file(state, str(path))
    return path


def rules(layers: int, directory: Path) -> Path:
    """recipe:gpt2's text with ``n_layer`` set to the model's."""
    from initreg.planning.recipe_files import recipe_path

    text = Path(recipe_path("gpt2")).read_text(encoding="utf-8").replace("n_layer = 12", f"n_layer = {layers}")
    out = directory / "gpt2.toml"
    out.write_text(text, encoding="utf-8")
    return out


def run_check(path: Path, rule_file: Path, sample: int | None) -> tuple[int, str]:
    """(exit status, printed text) of ``initreg check PATH --rules FILE [--sample N]`` in this process."""
    from initreg.cli import main

    argv = ["check", str(path), "--rules", str(rule_file)] + (["--sample", str(sample)] if sample else [])
    buf = io.StringIO()
    with redirect_stdout(buf):
        status = main(argv)
    return status, buf.getvalue()


def timing(layers: int, repeats: int, sample: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        net = model(layers)
        params = sum(p.numel() for p in net.parameters())
        path = save(net, d / "model.safetensors")
        del net
        rule_file = rules(layers, d)
        t0 = time.perf_counter()
        status, text = run_check(path, rule_file, sample)
        cold = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run_check(path, rule_file, sample)
            times.append(time.perf_counter() - t0)
    return {"layers": layers, "parameters": params, "sample": sample, "status": status, "cold_s": round(cold, 2),
            "min_s": round(min(times), 2), "median_s": round(statistics.median(times), 2),
            "runs_s": [round(t, 2) for t in times], "loadavg": os.getloadavg(),
            "summary": text.strip().splitlines()[-1]}


def profile(layers: int, sample: int | None) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        path = save(model(layers), d / "model.safetensors")
        rule_file = rules(layers, d)
        run_check(path, rule_file, sample)  # warm: imports, page cache
        prof = cProfile.Profile()
        prof.enable()
        run_check(path, rule_file, sample)
        prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


def scale_row(state: dict) -> None:
    """One unit at 2× std: one output column of block 0's c_attn (a Conv1D: weight is in × out) scaled by 2."""
    state["transformer.h.0.attn.c_attn.weight"][:, 7] *= 2


def copy_tensor(state: dict) -> None:
    """A copied tensor: block 1's c_fc weight is block 0's."""
    state["transformer.h.1.mlp.c_fc.weight"] = state["transformer.h.0.mlp.c_fc.weight"].clone()


MUTANTS = {"one unit at 2x std (h.0.attn.c_attn.weight)": (scale_row, "transformer.h.0.attn.c_attn.weight"),
           "copied tensor (h.1.mlp.c_fc.weight)": (copy_tensor, "transformer.h.1.mlp.c_fc.weight")}


def power(layers: int, seeds: int, sample: int | None) -> dict[str, Any]:
    from initreg.cli import main  # noqa: F401 - import cost outside the loop

    found: dict[str, list[bool]] = {k: [] for k in MUTANTS}
    clean: list[bool] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rule_file = rules(layers, d)
        for seed in range(seeds):
            net = model(layers, seed)
            status, _ = run_check(save(net, d / "clean.safetensors"), rule_file, sample)
            clean.append(status == 0)
            for label, (mutate, name) in MUTANTS.items():
                status, text = run_check(save(net, d / "m.safetensors", mutate), rule_file, sample)
                found[label].append(status == 1 and name in text)
    return {"layers": layers, "sample": sample, "seeds": seeds, "clean_passed": sum(clean),
            "detected": {k: sum(v) for k, v in found.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sample", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--power", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.profile:
        print(profile(a.layers, a.sample))
        return
    result = power(a.layers, a.seeds, a.sample) if a.power else timing(a.layers, a.repeats, a.sample)
    print(json.dumps(result, indent=None if a.json else 2))


if __name__ == "__main__":
    sys.exit(main())
