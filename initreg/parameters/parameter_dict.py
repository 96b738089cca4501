"""ParameterDict: an ordered mapping name → Parameter that selects, initializes and moves them together."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Iterator, Mapping

from ..errors import InitializerTypeError, ParameterNotFoundError, did_you_mean
from .parameter import Parameter
from ..planning.patterns import compile_pattern
from ..planning.precedence import choose, keyed, only_mask, seed_of, split_init
from ..core.stream import choose_seed, seed_source


class ParameterDict:
    """An ordered mapping name → Parameter with select, initialize and gradient helpers."""

    def __init__(self, params: Iterable[Parameter] | Mapping[str, Parameter] | None = None):
        self._params: dict[str, Parameter] = {}
        if params is not None:
            self.update(params)

    # -- mapping protocol --------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._params[name]
        except KeyError:
            raise ParameterNotFoundError(f"no parameter named {name!r}{did_you_mean(name, list(self._params))}") from None

    def __setitem__(self, name: str, param: Parameter) -> None:
        if not isinstance(param, Parameter):
            raise InitializerTypeError(f"ParameterDict values must be Parameters, got {param!r} for {name!r}")
        self._params[name] = param

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def keys(self):
        """Parameter names, in order."""
        return self._params.keys()

    def values(self):
        """Parameters, in order."""
        return self._params.values()

    def items(self):
        """(name, Parameter) pairs, in order."""
        return self._params.items()

    def get(self, name: str, default: Any = None) -> Any:
        """The parameter named ``name``, or ``default``."""
        return self._params.get(name, default)

    def add(self, param: Parameter) -> Parameter:
        """Add a parameter under its own name; return it."""
        self[param.name] = param
        return param

    def update(self, params: Iterable[Parameter] | Mapping[str, Parameter] | "ParameterDict") -> None:
        """Add parameters (a mapping by name, or parameters keyed by their own names)."""
        if isinstance(params, (Mapping, ParameterDict)):
            for k, v in params.items():
                self[k] = v
        else:
            for p in params:
                self.add(p)

    def __repr__(self) -> str:
        lines = [f"  {p!r}" for p in self._params.values()]
        return "ParameterDict(\n" + "\n".join(lines) + "\n)" if lines else "ParameterDict()"

    # -- selection -------------------------------------------------------------------------------------
    def select(self, pattern: str) -> "ParameterDict":
        """The parameters whose names match a glob (``"*.bias"``) or a ``"re:..."`` full-match regex."""
        match = compile_pattern(pattern)
        out = ParameterDict({k: v for k, v in self._params.items() if match(k)})
        if not out:
            from .options import warn_empty_selection

            warn_empty_selection(pattern, self._params)
        return out

    # -- initialization ----------------------------------------------------------------------------------
    def initialize(self, init: Any = None, device: Any = None, force_reinit: bool = False,
                   seed: int | None = None, *, strict: bool = False, ctx: Any = None, verbose: bool = False,
                   vars: Mapping[str, Any] | None = None, only: Any = None, name_map: Any = None,
                   **unknown: Any) -> None:
        """Initialize every parameter; ``init`` is the default below declared inits (or a Rules / {pattern: init}).

        ``ctx`` is Gluon's name for ``device``; ``verbose=True`` prints what each parameter got and why. ``vars``,
        ``only`` and ``name_map`` are initreg.plan's: expression variables, what may change (the rest keep
        exactly their values), and the names values are drawn under.
        """
        if unknown:  # an InitregError naming them, not Python's TypeError from deep inside a call
            raise InitializerTypeError(f"initialize() got unknown keyword argument(s) {', '.join(map(repr, sorted(unknown)))}; "
                                       f"it takes init, device (or ctx), force_reinit, seed, strict, verbose, vars, "
                                       f"only and name_map")
        from . import options

        device = options.device_argument(device, ctx)
        if not self._params:
            options.warn_empty_initialize()
        rules, default = split_init(init)
        params = list(self._params.values())
        names = [p.name for p in params]
        inside = only_mask(names, only)
        vars, keys = keyed(names, rules, vars, name_map)  # vars checked before anything else reads them
        entries = [p.entry(force_reinit) for p in params]
        entries = [e if k == e.name else replace(e, name=k) for e, k in zip(entries, keys)]
        choices, diagnostics = choose(entries, rules, default, strict, vars=vars, inside=inside)
        diagnostics.warn()
        keys = [k for k, c in zip(keys, choices) if c.init is not None]  # "keep": nothing is drawn, nothing changes
        params, choices = ([p for p, c in zip(params, choices) if c.init is not None],
                           [c for c in choices if c.init is not None])
        recorded = seed_of(init)  # a rule file's or recipe's seed
        source, seed = seed_source(seed, recorded), choose_seed(seed, recorded)  # one seed per call
        if source == "global":
            options.check_streams(params, choices, seed, force_reinit)
        commits, kept = [], set()
        for p, choice, key in zip(params, choices, keys):
            commit = p.plan(choice.init, choice.label, device, force_reinit, seed, key)
            if commit is not None:
                commits.append(commit)
            else:
                kept.add(p.name)
        for c in commits:  # every draw succeeded: now commit them all
            c()
        if verbose:
            print(options.report(params, choices, kept, seed))

    def save_parameters(self, path: Any) -> None:
        """Write every parameter's values to ``path`` (.npz or .safetensors) under its name, atomically."""
        from .loading import save_parameters

        save_parameters(self, path)

    def load_parameters(self, path: Any, device: Any = None, allow_missing: bool = False, ignore_extra: bool = False,
                        *, ctx: Any = None) -> None:
        """Set each parameter to the array of its name in ``path`` (open shapes completed from it); all or nothing."""
        from .options import device_argument
        from .loading import load_parameters

        load_parameters(self, path, device=device_argument(device, ctx), allow_missing=allow_missing,
                        ignore_extra=ignore_extra)

    def zero_grad(self) -> None:
        """Zero every gradient."""
        for p in self._params.values():
            p.zero_grad()

    def reset_devices(self, devices: Any) -> None:
        """Move every parameter to ``devices``."""
        for p in self._params.values():
            p.reset_devices(devices)
