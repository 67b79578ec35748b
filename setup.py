"""Builds the optional C kernel of the threshold; the rest is in pyproject.toml.

Where it cannot be built (no C compiler, no OpenMP), the package installs
without it and counts with numpy and torch instead: same results, slower.
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildWithOpenMP(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            compile_args, link_args = ["/O2", "/openmp"], []
        else:
            compile_args, link_args = ["-O3", "-fopenmp"], ["-fopenmp"]
        for extension in self.extensions:
            extension.extra_compile_args += compile_args
            extension.extra_link_args += link_args
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "sk_adaprune._method._kernels",
            ["sk_adaprune/_method/_kernels.c"],
            optional=True,
        )
    ],
    cmdclass={"build_ext": BuildWithOpenMP},
)
