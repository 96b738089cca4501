"""Initial checkpoints as .safetensors with provenance: plan the files of a parameter table (one file, or
Hugging Face-style shards with an index), then write all of them, one of them (``shard``), or only the
index, in this process or with a Dask cluster (``client``)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import CheckpointNotFoundError
from .shards import (DEFAULT_MAX_SHARD_SIZE, INDEX_NAME, CheckpointPlan, Piece, ShardError, check_directory,
                     parse_size, plan_file, plan_shards)


@dataclass(frozen=True)
class Written:
    """What a write produced: the plan, the files written (number → path), the index (or None), Dask tasks run."""

    plan: CheckpointPlan
    files: Mapping[int, Path]
    index: Path | None
    tasks: int | None


def drawn_rows(table: Any) -> list[Any]:
    """The rows of ``table`` that get values: a kept row (outside ``only=``, a "keep" rule) has none to write."""
    return [r for r in table if r.source != "keep"]


def plan_output(table: Any, rules: Any, path: Path, *, directory: bool, max_shard_size: Any = None,
                vars: Mapping[str, Any] | None = None) -> CheckpointPlan:
    """The file plan of ``table`` (an Explanation) at ``path``: sharded when ``directory``; provenance in every file.

    ``vars``: the caller's vars= the table was planned with, recorded beside the rules so they reproduce it.
    Kept rows are left out: the checkpoint holds what was drawn.
    """
    from .provenance import metadata, run_id

    drawn = drawn_rows(table)
    rows = {r.name: r for r in drawn}
    specs = {r.name: (tuple(r.shape), r.dtype) for r in drawn}
    size = parse_size(max_shard_size or DEFAULT_MAX_SHARD_SIZE) if directory else None
    run = run_id(drawn, table.seed, rules, {"sharded": directory, "max_shard_size": size}, vars)

    def metadata_of(names: Any) -> dict[str, str]:
        return metadata([rows[n] for n in names], table.seed, rules, run, vars)

    if directory:
        return plan_shards(specs, size, metadata_of)
    return plan_file(path.name, specs, metadata_of)


def targets_of(plan: CheckpointPlan, path: Path, *, directory: bool, shard: tuple[int, int] | None = None,
               index_only: bool = False) -> dict[int, Path]:
    """File number → target path of the files to write (none for ``index_only``); errors before anything is written,
    also for a target that exists and is not a regular file (its rename would fail after others were done)."""
    from .files import check_target

    targets = _targets(plan, path, directory=directory, shard=shard, index_only=index_only)
    for target in targets.values():
        check_target(target)
    return targets


def _targets(plan: CheckpointPlan, path: Path, *, directory: bool, shard: tuple[int, int] | None,
             index_only: bool) -> dict[int, Path]:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CheckpointNotFoundError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist; "
                                      f"create it first")
    if not directory:
        if shard is not None or index_only:
            raise ShardError(f"shard and index_only need a directory output, got the file {str(path)!r}")
        return {1: path}
    check_directory(path, plan)
    if index_only:
        if not plan.sharded:
            raise ShardError(f"--index-only: this checkpoint is a single file ({plan.files[0].filename}), which "
                             f"has no index; write it with --shard 1/1 or without --index-only")
        return {}
    if shard is not None:
        i, n = shard
        if n != len(plan.files):
            raise ShardError(f"--shard {i}/{n}: this checkpoint is planned as {len(plan.files)} file(s), not {n}; "
                             f"use --shard I/{len(plan.files)} (the same --max-shard-size gives the same plan)")
        return {i: path / plan.file(i).filename}
    return {f.number: path / f.filename for f in plan.files}


def write_output(table: Any, rules: Any, path: Any, *, directory: bool, max_shard_size: Any = None,
                 shard: tuple[int, int] | None = None, index_only: bool = False, client: Any = None,
                 progress: Callable[[Piece], None] | None = None, timeout: float | None = None,
                 worker_timeout: float | None = 30.0, vars: Mapping[str, Any] | None = None) -> Written:
    """Plan and write ``table``'s checkpoint at ``path``; on failure no target path is changed.

    With a Dask ``client``: ``timeout`` bounds the whole wait, ``worker_timeout`` the time without a live worker.
    ``vars``: the caller's vars= the table was planned with (recorded in the provenance).
    """
    from .filewriter import commit, discard, text_temp, write_plan

    path = Path(os.fspath(path))
    rows = {r.name: r for r in drawn_rows(table)}
    plan = plan_output(table, rules, path, directory=directory, max_shard_size=max_shard_size, vars=vars)
    targets = targets_of(plan, path, directory=directory, shard=shard, index_only=index_only)
    created = False
    if directory and not path.exists():
        try:
            path.mkdir()
            created = True
        except FileExistsError:  # another run writing here made it meanwhile
            pass
    try:
        tasks = None
        index = path / INDEX_NAME if plan.sharded and shard is None else None

        def also() -> dict[Path, Any]:  # the index, renamed with the files it lists
            return {index: text_temp(index, plan.index_text())} if index is not None else {}
        if client is not None and targets:
            from .dask_writer import write

            tasks = write(plan, targets, rows, table.seed, client, timeout=timeout, worker_timeout=worker_timeout,
                          also=also)
        elif targets:
            write_plan(plan, targets, rows, table.seed, progress, also=also)
        elif index is not None:
            alone = also()
            try:
                commit(alone)
            except BaseException:
                discard(alone.values())
                raise
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()  # only when still empty
        raise
    return Written(plan, targets, index, tasks)


def save_initial(params: Any, init: Any = None, path: Any = "model", *, seed: int | None = None,
                 max_shard_size: Any = None, shard: tuple[int, int] | None = None, index_only: bool = False,
                 client: Any = None, strict: bool = False, timeout: float | None = None,
                 worker_timeout: float | None = 30.0, vars: Mapping[str, Any] | None = None, only: Any = None,
                 name_map: Any = None) -> Written:
    """Write the initial values of ``params`` under ``init`` as .safetensors with provenance (a directory: sharded).

    ``vars``, ``only`` and ``name_map`` as in ``initreg.plan``; the vars are recorded, each tensor's name map key
    and expressions too, so ``initreg verify`` recomputes every value from the files alone.
    """
    from ..planning.explanation import entries_of, plan
    from ..planning.precedence import split_init
    from ..core.stream import choose_seed

    path = Path(os.fspath(path))
    entries = entries_of(params)
    options = dict(strict=strict, vars=vars, only=only, name_map=name_map)
    table = plan(entries, init, seed=seed, **options)  # seed=, else the rules', else the global seed
    chosen = choose_seed(table.seed, fresh=shard is None)  # else fresh: one seed for every file, recorded in each
    if chosen is None:
        raise ShardError(f"shard={shard}: no seed given (and none in the rules); separate shard tasks cannot agree "
                         f"on fresh entropy: pass seed=N, the same N to every task")
    if chosen != table.seed:
        table = plan(entries, init, seed=chosen, **options)
    rules = split_init(init)[0]  # a Rules, a mapping or "recipe:NAME": its rule document is recorded
    return write_output(table, rules, path, directory=path.suffix.lower() != ".safetensors",
                        max_shard_size=max_shard_size, shard=shard, index_only=index_only, client=client,
                        timeout=timeout, worker_timeout=worker_timeout, vars=vars)
