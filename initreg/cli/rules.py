"""``initreg explain`` (which rule picks which initializer) and ``initreg init`` (write an initial checkpoint)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .output import Progress, emit_json, int_at_least, interruptible
from .rule_args import add_rule_arguments, drawn_rows, load_rules, options, rule_source, with_vars

SPEC_FORMATS = (".json", ".toml", ".npz", ".safetensors")
PROGRESS_MIN_VALUES = 1 << 23  # below this many values a model is written before a bar would help


def add_parser(sub: Any) -> None:
    """Add the ``explain`` and ``init`` subcommands."""
    p = sub.add_parser("explain", help="show which initializer each parameter gets, and which rule decided it",
                       description="Apply a rule file to a list of parameter names and shapes and print, for each "
                                   "parameter, the deciding source (rule N, default, global default), the "
                                   "initializer with its arguments, and its stream key.")
    p.add_argument("rules", metavar="RULES", nargs="?",
                   help="rule file (.toml or .json) or recipe:NAME; optional with --torch")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--params", metavar="SPEC", help=_SPEC_HELP)
    source.add_argument("--torch", metavar="PKG.MODULE:FACTORY", help=_TORCH_HELP)
    p.add_argument("--seed", type=_seed, default=None, help="seed (default: the rule file's)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a rule is unused or shadowed")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown table")
    add_rule_arguments(p)
    p.set_defaults(func=run_explain, usage_error=p.error)

    p = sub.add_parser("init", help="write a checkpoint of initial values chosen by a rule file",
                       description="Draw every parameter of SPEC with the initializer the rules choose and write "
                                   "the arrays to a .safetensors or .npz file (via a temporary file and a rename). "
                                   "The same seed gives the same values, bit for bit.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--params", metavar="SPEC", help=_SPEC_HELP)
    source.add_argument("--torch", metavar="PKG.MODULE:FACTORY", help=_TORCH_HELP)
    p.add_argument("--rules", metavar="RULES",
                   help="rule file (.toml or .json) or recipe:NAME; required with --params (or --recipe)")
    p.add_argument("--seed", type=_seed, default=None,
                   help="seed (default: the rule file's; with neither, a fresh one that is printed)")
    p.add_argument("--dtype", default=None, help="dtype of every array: float16, float32, float64 or bfloat16 (float32 "
                                                 "values rounded to nearest even; .safetensors only) (default: each "
                                                 "entry's own, else float32; with --torch each tensor's)")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="output file, .safetensors or .npz, or a directory for a sharded .safetensors checkpoint")
    p.add_argument("--strict", action="store_true", help="exit 1 (writing nothing) when a rule is unused or shadowed")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    add_rule_arguments(p)  # --only: only the matching tensors are drawn and written
    from . import checkpoints

    checkpoints.add_options(p)
    p.set_defaults(func=run_init, usage_error=p.error)


_TORCH_HELP = ("a PyTorch model: a function or nn.Module class taking no arguments, built on the meta device and "
               "planned with its own parameter names, declared initializers and ties (needs initreg[torch])")
_SPEC_HELP = ("parameters: a JSON or TOML list of {name, shape[, dtype]} (TOML: [[param]] tables), "
              "or an .npz/.safetensors checkpoint (names, shapes and dtypes are read without the values)")


_seed = int_at_least("seed", 0, "non-negative")


# --- the parameter spec -------------------------------------------------------------------------------

def read_spec(path: str | os.PathLike) -> list[dict[str, Any]]:
    """[{name, shape, dtype, layout}] from a JSON/TOML list or a checkpoint's header; errors name file and entry."""
    from ..errors import ParameterValueError
    from ..core.names import name_problem
    from ..core.shapes import check_dtype, check_shape

    path = Path(os.fspath(path))
    suffix = path.suffix.lower()
    if suffix not in SPEC_FORMATS:
        raise ParameterValueError(f"parameter spec {str(path)!r}: unknown format {suffix or '(no extension)'!r}; "
                                  f"use {', '.join(SPEC_FORMATS)}")
    if suffix in (".npz", ".safetensors"):
        from ..checkpoints.checkpoint import Checkpoint

        return [{"name": n, "shape": tuple(shape), "dtype": dtype, "layout": None}
                for n, (shape, dtype) in Checkpoint.open(path).specs().items()]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParameterValueError(f"parameter spec {str(path)!r} does not exist; check the path") from None
    except UnicodeDecodeError as exc:
        raise ParameterValueError(f"parameter spec {str(path)!r} is not UTF-8 text ({exc}); save it as UTF-8") from None
    entries = _spec_entries(text, suffix, str(path))
    out, seen = [], {}
    for i, entry in enumerate(entries, 1):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise ParameterValueError(f"{where}: expected a table with a non-empty 'name' and a 'shape', got {entry!r}")
        name = entry["name"]
        problem = name_problem(name)
        if problem is not None:
            raise ParameterValueError(f"{where}: invalid parameter name {name!r}: {problem}")
        unknown = set(entry) - {"name", "shape", "dtype", "layout"}
        if unknown:
            raise ParameterValueError(f"{where} ({name!r}): unknown key(s) {', '.join(sorted(unknown))}; "
                                      f"an entry has name, shape, dtype and layout")
        if name in seen:
            raise ParameterValueError(f"{where}: name {name!r} already used by entry {seen[name]}; names must be unique")
        seen[name] = i
        try:
            shape = check_shape(entry.get("shape"), name)
            dtype = str(check_dtype(entry.get("dtype", "float32"), name))
        except ValueError as exc:
            raise type(exc)(f"{where}: {exc}") from None
        except TypeError as exc:
            raise type(exc)(f"{where}: {exc}") from None
        out.append({"name": name, "shape": shape, "dtype": dtype, "layout": entry.get("layout")})
    return out


def _spec_entries(text: str, suffix: str, source: str) -> list[Any]:
    from ..errors import ParameterValueError

    if suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        parse, kind = tomllib.loads, "TOML"
    else:
        parse, kind = json.loads, "JSON"
    try:
        doc: Any = parse(text)
    except RecursionError:
        raise ParameterValueError(f"{source}: invalid {kind}: nested too deeply; a spec is a flat list of "
                                  f"{{name, shape[, dtype]}} entries") from None
    except ValueError as exc:  # the decode errors, and an integer over Python's 4,300-digit limit
        why = str(exc).split("; use sys.set_int_max_str_digits")[0]  # a fix the command's user cannot apply
        raise ParameterValueError(f"{source}: invalid {kind}: {_cut(why)}") from None
    if isinstance(doc, dict):
        for key in ("param", "params"):
            if isinstance(doc.get(key), list) and len(doc) == 1:
                return doc[key]
        if suffix == ".json":  # {name: shape} or {name: {shape, dtype}}
            return [{"name": k, **(v if isinstance(v, dict) else {"shape": v})} for k, v in doc.items()]
    if isinstance(doc, list):
        return doc
    raise ParameterValueError(f"{source}: expected a list of {{name, shape[, dtype]}} entries "
                              f"(TOML: [[param]] tables), got {type(doc).__name__}")


def _cut(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def entry_dtype(spec: str, entry: dict[str, Any], override: str | None) -> str:
    """The dtype a spec entry is planned and written in (``override``: --dtype); a DTypeError naming the spec file
    for one initreg cannot draw (a checkpoint's float8 or structured arrays)."""
    from ..checkpoints.files import is_bfloat16
    from ..core.shapes import check_dtype
    from ..errors import DTypeError

    dtype = override or entry["dtype"]
    if is_bfloat16(dtype):
        return dtype
    try:
        return str(check_dtype(dtype, entry["name"]))
    except DTypeError as exc:
        raise DTypeError(f"parameter spec {spec!r}: {exc}; pass --dtype float32 (or float16, float64, bfloat16) to "
                         f"write every parameter in that dtype") from None


# --- explain ----------------------------------------------------------------------------------------

def _fail(command: str, exc: BaseException) -> int:
    print(f"initreg {command}: error: {exc}", file=sys.stderr)
    return 2


@interruptible("explain")
def run_explain(args: argparse.Namespace) -> int:
    """Print the table; 1 with --strict when a rule is unused or shadowed, 2 on a bad file."""
    from ..errors import InitregError
    from ..planning.explanation import explain
    from ..plugins.registry import load_plugins

    try:
        load_plugins()  # under INITREG_STRICT_PLUGINS a broken plugin is named as such, not as the rule file's fault
        rules = load_rules(rule_source(args, args.rules, "RULES"))
        if args.torch:
            from .torch_source import plan_torch

            table = plan_torch(args.torch, rules, args.seed, **options(args))
        elif rules is None:
            args.usage_error("RULES is required with --params (or --recipe NAME)")
        else:
            spec = [{**e, "dtype": entry_dtype(args.params, e, None)} for e in read_spec(args.params)]
            table = explain(spec, rules, seed=args.seed, **options(args))
    except (InitregError, OSError) as exc:
        return _fail("explain", exc)
    if args.json:
        emit_json(table.to_json())
    else:
        print(table.to_markdown() if args.markdown else str(table))
    if args.strict and table.diagnostics:
        print(f"initreg explain: {len(table.diagnostics.messages())} rule problem(s) (--strict)", file=sys.stderr)
        return 1
    return 0


# --- init ---------------------------------------------------------------------------------------------

@interruptible("init")
def run_init(args: argparse.Namespace) -> int:
    """Write the checkpoint; 1 with --strict when a rule is unused or shadowed, 2 on a usage error."""
    import math

    from ..errors import InitregError
    from ..planning.explanation import plan
    from ..planning.precedence import Entry
    from ..core.stream import choose_seed, seed_source
    from ..planning.regions import values
    from ..plugins.registry import load_plugins
    from ..core.shapes import is_complete

    from . import checkpoints

    out = Path(args.output)
    problem = checkpoints.check(args)
    if problem:
        return _fail("init", problem)
    if args.torch:
        if args.dtype is not None:
            args.usage_error("--dtype applies to --params; with --torch each tensor keeps the model's dtype")
    elif not args.rules and args.recipe is None:
        args.usage_error("--rules is required with --params (or --recipe NAME)")
    try:
        load_plugins()  # under INITREG_STRICT_PLUGINS a broken plugin is named as such, not as the rule file's fault
        rules = load_rules(rule_source(args, args.rules, "--rules"))
        recorded = rules.seed if rules is not None else None  # --seed, else the rule file's, else fresh (no global)
        fresh = seed_source(args.seed, recorded, use_global=False) == "fresh"
        seed = choose_seed(args.seed, recorded, use_global=False)
        if args.torch:
            from .torch_source import check_writable, plan_torch

            table = drawn_rows(plan_torch(args.torch, rules, seed, **options(args)))
            shapes = {r.name: r.shape for r in table}
        else:
            spec = read_spec(args.params)
            shapes = {e["name"]: e["shape"] for e in spec}
        incomplete = [name for name, shape in shapes.items() if not is_complete(shape)]
        if incomplete:
            return _fail("init", f"parameter(s) {', '.join(map(repr, incomplete[:5]))} have unknown dimensions; "
                                 f"initreg init needs every shape in full")
        if args.torch:
            check_writable(table, args.torch)
        else:
            from ..core.fans import check_layout
            from .torch_source import checkpoint_dtype

            dtype = None if args.dtype is None else checkpoint_dtype(args.dtype)
            entries = [Entry(e["name"], e["shape"], entry_dtype(args.params, e, dtype), check_layout(e["layout"]))
                       for e in spec]
            table = drawn_rows(plan(entries, rules, seed=seed, **options(args)))
    except (InitregError, OSError) as exc:
        return _fail("init", exc)
    if fresh and args.shard:
        return _fail("init", f"--shard {args.shard}: no seed given (no --seed, and none in the rule file); each "
                             f"--shard task would draw its own fresh seed and the files would not belong together: "
                             f"pass --seed N, the same N to every task")
    diagnostics = table.diagnostics
    for message in diagnostics.messages():
        print(f"initreg init: warning: {message}", file=sys.stderr)
    if args.strict and diagnostics:
        print(f"initreg init: {len(diagnostics.messages())} rule problem(s) (--strict); nothing written",
              file=sys.stderr)
        return 1
    seed = table.seed
    if fresh:
        print(f"initreg init: no seed given; using seed {seed} (pass --seed {seed} to write the same file again)",
              file=sys.stderr)
    if checkpoints.handles(args):  # .safetensors: one file or sharded, with provenance, optionally by Dask
        return checkpoints.write(args, table, with_vars(rules, args), PROGRESS_MIN_VALUES)  # --var values recorded
    try:
        from .torch_source import check_npz

        check_npz(table, out)
    except InitregError as exc:
        return _fail("init", exc)
    rows = {r.name: r for r in table}
    total = sum(math.prod(r.shape) for r in table)
    done, drawn = 0, 0
    try:
        with Progress("initreg init", total, enabled=not args.quiet and total >= PROGRESS_MIN_VALUES) as bar:
            def draw(name: str) -> Any:
                """One parameter's values, drawn when the writer reaches it and dropped once written."""
                nonlocal done, drawn
                r = rows[name]
                data = values(r.initializer, r.shape, name=r.name, seed=seed, dtype=r.dtype, layout=r.layout)
                done, drawn = done + math.prod(r.shape), drawn + 1
                bar.update(done, note=f"{drawn}/{len(rows)} parameters")
                return data

            from ..checkpoints.files import save_streamed

            # tied tensors are one row: written once, under their first name (see docs/torch-distributed.md)
            save_streamed(out, {r.name: (r.shape, r.dtype) for r in table}, draw, prefetch=True)
    except (InitregError, OSError) as exc:
        return _fail("init", exc)
    if not args.quiet:
        dtypes = sorted({r.dtype for r in table})
        print(f"wrote {out}: {len(rows)} parameters, {total:,} values ({', '.join(dtypes) or '-'}), seed {seed}")
    return 0
