"""Building real models the library's own way (its constructor initializes) against meta construction + initreg.

    python benchmarks/model_construction.py                  # every group, 3 repeats, Markdown table on stdout
    python benchmarks/model_construction.py --groups timm,keras --repeats 5
    python benchmarks/model_construction.py --json

Each group runs in its own child interpreter, the two ways taking turns ``--repeats`` times (min and median shown):

- ``transformers`` (torch): GPT-2 small (124 M), a Llama of width 1024 and 8 layers (vocabulary 32000, MLP 2816,
  4 KV heads, untied head), BERT-base. Library: ``Model(config)`` on the CPU (PyTorch's init, then transformers'
  ``post_init``). initreg: the same under ``torch.device("meta")`` + ``initreg.torch.initialize(model, rules,
  seed=0)``, the rules being transformers' ``_init_weights`` (``recipe:gpt2`` for GPT-2).
- ``timm`` (torch): resnet50, vit_base_patch16_224, convnext_tiny from ``timm.create_model``, built with timm's
  init against meta + ``initialize`` with the shipped recipes timm-resnet, timm-vit and timm-convnext. The child has the torchvision
  stand-in of tests/torch/timm_shim/ on its path (see docs/torch.md, "timm models").
- ``flax``: a linen CNN (library: ``jax.jit(model.init)``, compile excluded and shown apart; initreg:
  ``jax.eval_shape(model.init, ...)`` + ``initreg.jax.init(..., declared=flax_defaults())``), an NNX MLP and an
  NNX attention stack (library: ``Model(rngs=nnx.Rngs(0))``; initreg: ``nnx.eval_shape`` of it +
  ``initreg.jax.initialize``).
- ``keras`` (JAX backend): a CNN and an attention stack. Keras has no meta construction, so the library's time
  is building the functional model (its initializers run) and initreg's is that build + ``initreg.keras.initialize``
  (the ratio is below 1 by construction; the table shows ``initialize`` alone too).

Every result is materialized before the clock stops (``block_until_ready`` for JAX). Threads: each library's and
initreg's defaults on this machine's cores. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
TIMM_SHIM = ROOT / "tests" / "torch" / "timm_shim"
GROUPS = ("transformers", "timm", "flax", "keras")
#: transformers' _init_weights for Llama and BERT: normal(initializer_range) weights, zero biases, unit norms
HF_RULES = {"*norm*.weight": "ones", "*LayerNorm.weight": "ones", "*.bias": "zeros",
            "*.weight": ["normal", {"sigma": 0.02}]}


def turns(ways: dict[str, Callable[[], Any]], repeats: int, done: Callable[[Any], Any] = lambda x: x) -> dict:
    """Seconds of each way, ``repeats`` rounds with the ways taking turns (the result dropped between runs)."""
    times: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(repeats):
        for k, build in ways.items():
            gc.collect()
            t0 = time.perf_counter()
            out = done(build())
            times[k].append(time.perf_counter() - t0)
            del out
    return times


# --- the children, one per group -----------------------------------------------------------------------------

def torch_models(group: str) -> dict[str, tuple[Callable[[], Any], Any]]:
    """name → (build, rules) for the torch groups."""
    if group == "timm":
        import timm

        import initreg.recipes

        rule = lambda name, **v: initreg.recipes.load(name).replace(**({"vars": v} if v else {}))  # noqa: E731
        return {"timm resnet50": (lambda: timm.create_model("resnet50"), rule("timm-resnet", last_bn=3)),
                "timm vit_base_patch16_224": (lambda: timm.create_model("vit_base_patch16_224"), rule("timm-vit")),
                "timm convnext_tiny": (lambda: timm.create_model("convnext_tiny"),
                                       rule("timm-convnext", ls_init_value=1e-6, head_init_scale=1.0))}
    import transformers

    gpt2 = transformers.GPT2Config()
    llama = transformers.LlamaConfig(hidden_size=1024, num_hidden_layers=8, intermediate_size=2816,
                                     num_attention_heads=16, num_key_value_heads=4, vocab_size=32000,
                                     max_position_embeddings=2048)
    bert = transformers.BertConfig()
    return {"GPT-2 small": (lambda: transformers.GPT2LMHeadModel(gpt2), "recipe:gpt2"),
            "Llama (width 1024, 8 layers)": (lambda: transformers.LlamaForCausalLM(llama), HF_RULES),
            "BERT-base": (lambda: transformers.BertModel(bert), HF_RULES)}


def child_torch(group: str, repeats: int) -> list[dict]:
    import warnings

    import torch

    import initreg.torch

    warnings.simplefilter("ignore", initreg.UnusedRuleWarning)  # one rule set serves Llama and BERT
    rows = []
    for name, (build, rules) in torch_models(group).items():
        def meta_initreg():
            with torch.device("meta"):
                model = build()
            initreg.torch.initialize(model, rules, seed=0)
            return model

        with torch.device("meta"):
            n = sum(p.numel() for p in build().parameters())
        rows.append({"model": name, "params": n, **turns({"library": build, "initreg": meta_initreg}, repeats)})
    return rows


def child_flax(repeats: int) -> list[dict]:
    import jax
    import jax.numpy as jnp
    from flax import linen, nnx

    import initreg.jax

    class CNN(linen.Module):
        """VGG-style: four stages of two 3x3 convolutions (64 to 512 channels), then a 1000-way Dense."""

        @linen.compact
        def __call__(self, x):
            for width in (64, 128, 256, 512):
                x = linen.relu(linen.Conv(width, (3, 3))(x))
                x = linen.relu(linen.Conv(width, (3, 3))(x))
                x = linen.max_pool(x, (2, 2), (2, 2))
            return linen.Dense(1000)(x.mean(axis=(1, 2)))

    class MLP(nnx.Module):
        def __init__(self, width: int, depth: int, rngs: nnx.Rngs):
            self.layers = nnx.List([nnx.Linear(width, width, rngs=rngs) for _ in range(depth)])

    class Block(nnx.Module):
        def __init__(self, width: int, heads: int, rngs: nnx.Rngs):
            self.norm1, self.norm2 = nnx.LayerNorm(width, rngs=rngs), nnx.LayerNorm(width, rngs=rngs)
            self.attn = nnx.MultiHeadAttention(num_heads=heads, in_features=width, decode=False, rngs=rngs)
            self.up, self.down = nnx.Linear(width, 4 * width, rngs=rngs), nnx.Linear(4 * width, width, rngs=rngs)

    class Attention(nnx.Module):
        def __init__(self, width: int, heads: int, depth: int, rngs: nnx.Rngs):
            self.blocks = nnx.List([Block(width, heads, rngs) for _ in range(depth)])

    ready = jax.block_until_ready
    leaves = lambda tree: jax.tree.leaves(tree)  # noqa: E731
    rows = []
    cnn, key, image = CNN(), jax.random.key(0), jnp.ones((1, 64, 64, 3))
    t0 = time.perf_counter()
    compiled = jax.jit(cnn.init).lower(key, image).compile()
    compile_s = time.perf_counter() - t0
    shapes = jax.eval_shape(cnn.init, key, image)
    rows.append({"model": "linen CNN (VGG-style, 8 convs)", "params": sum(x.size for x in leaves(shapes)),
                 "note": f"jit(model.init), compile {compile_s:.2f} s excluded", **turns({
                     "library": lambda: compiled(key, image),
                     "initreg": lambda: initreg.jax.init(jax.eval_shape(cnn.init, key, image), seed=0,
                                                         declared=initreg.jax.flax_defaults())}, repeats, ready)})
    for name, make in (("NNX MLP (8 x Linear 2048)", lambda: MLP(2048, 8, nnx.Rngs(0))),
                       ("NNX attention (6 blocks, width 768, 12 heads)", lambda: Attention(768, 12, 6, nnx.Rngs(0)))):
        def meta_initreg(make=make):
            model = nnx.eval_shape(make)
            initreg.jax.initialize(model, seed=0)
            return nnx.state(model)

        n = sum(x.size for x in leaves(nnx.state(nnx.eval_shape(make), nnx.Param)))
        rows.append({"model": name, "params": n, **turns({"library": lambda make=make: nnx.state(make()),
                                                            "initreg": meta_initreg}, repeats, ready)})
    return rows


def child_keras(repeats: int) -> list[dict]:
    import jax
    import keras

    import initreg.keras

    def cnn():
        x = keras.Input((64, 64, 3))
        h = x
        for width in (64, 128, 256, 512):
            h = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(h)
            h = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(h)
            h = keras.layers.MaxPooling2D()(h)
        return keras.Model(x, keras.layers.Dense(1000)(keras.layers.GlobalAveragePooling2D()(h)))

    def attention():
        x = keras.Input((16, 768))
        h = x
        for _ in range(6):
            n = keras.layers.LayerNormalization()(h)
            h = h + keras.layers.MultiHeadAttention(num_heads=12, key_dim=64)(n, n)
            n = keras.layers.LayerNormalization()(h)
            h = h + keras.layers.Dense(768)(keras.layers.Dense(3072, activation="gelu")(n))
        return keras.Model(x, h)

    def ready(model):
        jax.block_until_ready([v.value for v in model.variables])
        return model

    rows = []
    for name, build in (("Keras CNN (VGG-style, 8 convs)", cnn), ("Keras attention (6 blocks, width 768, 12 heads)",
                                                                   attention)):
        def both(build=build):
            model = build()
            initreg.keras.initialize(model, seed=0)
            return model

        models = [build() for _ in range(repeats)]  # for initialize alone
        alone = []
        for m in models:
            t0 = time.perf_counter()
            initreg.keras.initialize(m, seed=0)
            ready(m)
            alone.append(time.perf_counter() - t0)
        del models
        n = sum(int(v.numpy().size) for v in build().trainable_variables)
        rows.append({"model": name, "params": n, "initialize alone": alone,
                     **turns({"library": build, "initreg": both}, repeats, ready)})
    return rows


def run_child(group: str, repeats: int) -> list[dict]:
    """One group's rows, measured in a fresh interpreter."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", KERAS_BACKEND="jax")
    if group == "timm":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TIMM_SHIM), str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, __file__, "--child", group, "--repeats", str(repeats)], env=env,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise SystemExit(f"{group} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: dict) -> str:
    """The Markdown table of ``results``."""
    out = [f"load average before: {results['load_before']}; after: {results['load_after']}; {os.cpu_count()} cores; "
           f"Python {platform.python_version()}; {results['repeats']} repeats, the two ways taking turns\n",
           "| library | model | parameters | library's own: min / median (s) | meta + initreg: min / median (s) | "
           "library ÷ initreg (min; median) |", "|---|---|---:|---:|---:|---:|"]
    for group, rows in results["groups"].items():
        for r in rows:
            lib, ours = r["library"], r["initreg"]
            ratio = f"{min(lib) / min(ours):.2f}×; {statistics.median(lib) / statistics.median(ours):.2f}×"
            note = f" ({r['note']})" if "note" in r else ""
            if "initialize alone" in r:
                a = r["initialize alone"]
                note = f" (initialize alone {min(a):.3f} / {statistics.median(a):.3f} s)"
            out.append(f"| {group} | {r['model']}{note} | {r['params'] / 1e6:.1f} M | {min(lib):.3f} / "
                       f"{statistics.median(lib):.3f} | {min(ours):.3f} / {statistics.median(ours):.3f} | {ratio} |")
    return "\n".join(out)


def main() -> int:
    """Run the groups (each in its own child) and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", choices=GROUPS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        rows = {"transformers": lambda: child_torch("transformers", args.repeats),
                "timm": lambda: child_torch("timm", args.repeats), "flax": lambda: child_flax(args.repeats),
                "keras": lambda: child_keras(args.repeats)}[args.child]()
        print(json.dumps(rows))
        return 0
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        ap.error(f"unknown group(s) {unknown}; choose from {', '.join(GROUPS)}")
    load = lambda: ", ".join(f"{x:.2f}" for x in os.getloadavg())  # noqa: E731
    results = {"load_before": load(), "repeats": args.repeats, "groups": {}}
    for g in groups:
        results["groups"][g] = run_child(g, args.repeats)
    results["load_after"] = load()
    print(json.dumps(results) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
