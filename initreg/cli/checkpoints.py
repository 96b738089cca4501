"""``initreg init``'s .safetensors output: one file or a sharded directory, provenance in every file,
``--shard I/N`` (one file of the plan), ``--index-only``, and ``--dask [ADDRESS]`` (a Dask cluster writes)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

LOCAL = "local"  # --dask without an address: a LocalCluster on this machine
_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*\Z")


def add_options(p: argparse.ArgumentParser) -> None:
    """The sharding and Dask options of ``initreg init``."""
    g = p.add_argument_group("sharded and parallel output (.safetensors)")
    g.add_argument("--max-shard-size", metavar="SIZE", default=None,
                   help="with -o DIR: split into model-XXXXX-of-YYYYY.safetensors files of at most SIZE "
                        "(e.g. 5GB, 500MB; default 5GB) plus model.safetensors.index.json, as huggingface_hub does")
    g.add_argument("--shard", metavar="I/N", default=None,
                   help="write only file I of the N files of the plan (byte-identical to the whole run's file I); "
                        "the index is written by a separate --index-only")
    g.add_argument("--index-only", action="store_true", help="write only model.safetensors.index.json")
    g.add_argument("--dask", metavar="ADDRESS", nargs="?", const=LOCAL, default=None,
                   help="write with a Dask distributed cluster: the scheduler at ADDRESS, or without ADDRESS a "
                        "LocalCluster on this machine (workers must see the output path)")
    g.add_argument("--dask-workers", metavar="N", type=int, default=None,
                   help="worker processes of the LocalCluster (default: the number of cores, at most 8)")
    g.add_argument("--dask-timeout", metavar="SECONDS", type=float, default=30.0,
                   help="how long to wait for the scheduler at ADDRESS, and at most how long a write waits "
                        "while no worker is alive (default 30)")


def is_directory_output(args: argparse.Namespace) -> bool:
    """Whether -o names a directory (an existing one, or a path without an extension): a sharded checkpoint."""
    out = Path(args.output)
    try:
        return out.is_dir() or (out.suffix == "" and not out.is_file())
    except OSError:  # a name too long to look up: by its form (writing it then fails with a clear error)
        return out.suffix == ""


def handles(args: argparse.Namespace) -> bool:
    """Whether this module writes the output (.safetensors file or directory; .npz stays with checkpoint.save_streamed)."""
    return Path(args.output).suffix.lower() != ".npz"


def check(args: argparse.Namespace) -> str | None:
    """The usage error in the output options, or None; checked before anything is planned or written."""
    from ..errors import InitregError
    from ..checkpoints.shards import parse_size

    out = Path(args.output)
    directory = is_directory_output(args)
    if not directory and out.suffix.lower() not in (".safetensors", ".npz"):
        return (f"output {str(out)!r} must end in .safetensors or .npz, or be a directory (a path without an "
                f"extension) for a sharded checkpoint")
    if not directory and out.suffix.lower() == ".npz" and (args.dask or args.shard or args.index_only
                                                           or args.max_shard_size):
        return f"output {str(out)!r}: --dask, --shard, --index-only and --max-shard-size write .safetensors; " \
               f"give a .safetensors file or a directory"
    if not directory and (args.max_shard_size or args.index_only or args.shard):
        return (f"--max-shard-size, --shard and --index-only need a directory output (-o DIR), got the file "
                f"{str(out)!r}")
    if args.shard and args.index_only:
        return "--shard and --index-only exclude each other: run --index-only as its own step"
    if args.dask and (args.shard or args.index_only):
        return "--dask writes every file itself; leave out --shard/--index-only (or run --shard tasks without --dask)"
    if args.dask_workers is not None and args.dask_workers < 1:
        return f"--dask-workers must be at least 1, got {args.dask_workers}"
    if args.dask_timeout <= 0:
        return f"--dask-timeout must be positive, got {args.dask_timeout}"
    try:
        if args.max_shard_size is not None:
            parse_size(args.max_shard_size)
    except InitregError as exc:
        return str(exc)
    if args.shard is not None:
        m = _SHARD.match(args.shard)
        if not m or int(m.group(2)) < 1 or not 1 <= int(m.group(1)) <= int(m.group(2)):
            return f"--shard must be I/N with 1 <= I <= N (e.g. --shard 2/4), got {args.shard!r}"
    return None


def write(args: argparse.Namespace, table: Any, rules: Any, progress_min: int = 0) -> int:
    """Plan and write the .safetensors output of ``initreg init``; 0, or 2 with a message on a usage error."""
    import math

    from ..errors import InitregError
    from ..checkpoints.writing import plan_output, targets_of, write_output
    from .output import Progress

    out = Path(args.output)
    directory = is_directory_output(args)
    shard = tuple(int(x) for x in _SHARD.match(args.shard).groups()) if args.shard else None
    options = dict(directory=directory, max_shard_size=args.max_shard_size)
    try:
        plan = plan_output(table, rules, out, **options)
        targets = targets_of(plan, out, directory=directory, shard=shard, index_only=args.index_only)
        total = sum(math.prod(plan.specs[n][0]) for k in targets for n in plan.file(k).names)
        count = sum(len(plan.file(k).names) for k in targets)
        done, drawn = 0, 0
        with _dask_client(args) as client, \
                Progress("initreg init", total, enabled=not args.quiet and total >= progress_min) as bar:
            def progress(piece: Any) -> None:
                nonlocal done, drawn
                done += math.prod(piece.shape)
                drawn += piece.index is None or not piece.index or piece.index[0].stop == plan.specs[piece.name][0][0]
                bar.update(done, note=f"{drawn}/{count} parameters")

            written = write_output(table, rules, out, shard=shard, index_only=args.index_only, client=client,
                                   progress=progress, worker_timeout=args.dask_timeout if client else None,
                                   **options)
    except (InitregError, OSError) as exc:
        print(f"initreg init: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        dtypes = ", ".join(sorted({r.dtype for r in table})) or "-"
        how = f", {written.tasks} Dask tasks" if written.tasks is not None else ""
        if not directory:
            print(f"wrote {out}: {len(table)} parameters, {total:,} values ({dtypes}), seed {table.seed}{how}")
        else:
            index = " and the index" if written.index else ""
            print(f"wrote {out}: {len(targets)} of {len(plan.files)} file(s){index}; {total:,} values in them "
                  f"({dtypes}), seed {table.seed}{how}")
    return 0


def _dask_client(args: argparse.Namespace) -> Any:
    """A context giving a Dask client for --dask, or None without it."""
    import contextlib

    if not args.dask:
        return contextlib.nullcontext()
    from .. import dask as initreg_dask

    address = None if args.dask == LOCAL else args.dask
    return initreg_dask.client(address, workers=args.dask_workers, timeout=args.dask_timeout)
