"""Time rule matching and explain(): 100,000 parameter names against 200 rules.

Run:  python benchmarks/rules.py [--names 100000] [--rules 200] [--repeat 3]

Reports the best of ``--repeat`` runs for: compiling the rules, first-match lookup for every name,
the unused/shadowed diagnostics, a full ``initreg.explain`` table (rows, configs, stream keys) and
its text rendering; plus, for comparison, the plain loop "try every rule in order with
fnmatch.fnmatchcase / re.fullmatch" that the prefix/suffix index replaces.
"""

from __future__ import annotations

import argparse
import fnmatch
import platform
import re
import time

import initreg
from initreg import Rules, explain
from initreg.planning.patterns import compile_cached as _compile
from initreg.std import Normal, One, Orthogonal, Uniform, Zero

KINDS = ["attn.q.weight", "attn.q.bias", "attn.k.weight", "attn.k.bias", "attn.v.weight", "attn.v.bias",
         "attn.o.weight", "attn.o.bias", "ln1.gamma", "ln1.beta", "ln2.gamma", "ln2.beta", "mlp.fc1.weight",
         "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias", "rnn.weight_hh", "rnn.weight_ih", "rnn.bias_hh",
         "rnn.bias_ih", "norm.running_mean", "norm.running_var", "gate.weight", "gate.bias", "scale"]


def make_names(n: int) -> list[str]:
    """``n`` structural names of a deep model: model.layers.<i>.<kind>."""
    names = ["embed.weight", "head.weight", "head.bias"]
    i = 0
    while len(names) < n:
        names += [f"model.layers.{i}.{k}" for k in KINDS]
        i += 1
    return names[:n]


def make_rules(n: int) -> Rules:
    """``n`` rules: per-layer overrides first, then regexes, then generic suffix rules (two never match)."""
    generic = [("*.bias", Zero()), ("*.bias_hh", Zero()), ("re:.*\\.ln\\d\\.gamma", One()), ("*.beta", Zero()),
               ("re:.*\\.rnn\\.weight_(hh|ih)", Orthogonal()), ("*.running_mean", Zero()), ("*.running_var", One()),
               ("*.attn.*.weight", Normal(sigma=0.02)), ("model.layers.*.mlp.fc?.weight", Uniform(0.05)),
               ("embed.*", Normal(sigma=0.02)), ("*.gama", One()), ("decoder.*", Zero())]
    specific = [(f"model.layers.{i}.mlp.fc2.weight", Normal(sigma=0.01 / (i + 1))) for i in range(n - len(generic))]
    return Rules(specific + generic, default=Uniform(0.07), seed=0)


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def plain_first_matches(rules: Rules, names: list[str]) -> list[int]:
    """The loop the index replaces: every rule in order until one matches (patterns precompiled)."""
    matchers = []
    for r in rules:
        rx = re.compile(r.pattern[3:] if r.pattern.startswith("re:") else fnmatch.translate(r.pattern))
        matchers.append(rx.fullmatch)
    out = []
    for name in names:
        for k, m in enumerate(matchers):
            if m(name):
                out.append(k)
                break
        else:
            out.append(-1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", type=int, default=100_000)
    ap.add_argument("--rules", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    names = make_names(args.names)
    spec = [(name, (64, 64)) for name in names]
    def fresh_rules() -> Rules:
        _compile.cache_clear()  # time the real compilation, not the per-pattern cache
        return make_rules(args.rules)

    t_compile, rules = best(fresh_rules, args.repeat)
    t_match, firsts = best(lambda: rules.first_matches(names), args.repeat)
    t_plain, plain = best(lambda: plain_first_matches(rules, names), 1)
    assert [r.number - 1 if r else -1 for r in firsts] == plain, "index and plain loop disagree"
    t_check, diag = best(lambda: rules.check(names), args.repeat)
    t_explain, table = best(lambda: explain(spec, rules, seed=0), args.repeat)
    t_text, text = best(lambda: str(table), args.repeat)

    matched = sum(r is not None for r in firsts)
    print(f"initreg {initreg.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print(f"{len(names):,} names, {len(rules)} rules ({matched:,} names matched by a rule; "
          f"{len(diag.unused)} unused, {len(diag.shadowed)} shadowed rules)")
    rows = [(f"build Rules of {len(rules)} rules (compiles every pattern)", t_compile),
            ("first match for every name (rules.first_matches)", t_match),
            ("same, plain loop over every rule in order", t_plain),
            ("unused/shadowed diagnostics (rules.check)", t_check),
            ("explain() table: choices, diagnostics, rows, keys", t_explain),
            ("str(table): aligned text", t_text)]
    for label, t in rows:
        per = t / len(names) * 1e6
        print(f"  {label:<52} {t * 1e3:9.1f} ms  ({per:6.2f} µs/name)")
    print(f"  index speed-up over the plain loop: {t_plain / t_match:.1f}x")


if __name__ == "__main__":
    main()
