"""Build of the optional compiled v4 kernel (initreg.core._v4kernel); everything else is in pyproject.toml.

The extension is plain C (CPython API and the buffer protocol, no NumPy headers) and optional: where it cannot
be built, the install goes on and initreg uses its NumPy reference with the same bits (one warning on first fill).
Its flags keep every floating-point operation a single correctly rounded IEEE operation: no contraction into
fused multiply-adds, no fast-math.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_GCC_LIKE = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-unsafe-math-optimizations", "-fno-math-errno"]
_MSVC = ["/O2", "/fp:precise"]


class _BuildExt(build_ext):
    def build_extensions(self) -> None:
        flags = _MSVC if self.compiler.compiler_type == "msvc" else _GCC_LIKE
        for ext in self.extensions:
            ext.extra_compile_args = list(flags)
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "initreg.core._v4kernel",
            sources=["initreg/core/_v4kernel.c"],
            depends=["initreg/core/v4.h", "initreg/core/_v4fill.h"],
            optional=True,
        )
    ],
    cmdclass={"build_ext": _BuildExt},
)
