"""The native part of the package: ingest's engine (archive/_ingest_native.cpp).

Everything else is configured in pyproject.toml. The engine needs a C++17 compiler and the
Debian packages libsimdjson-dev and libssl-dev (run.sh installs them). It is optional: where
it cannot be built the install goes on, and ingest checks every line in Python (the same
results, about a quarter of the speed).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "archive._ingest_native", ["archive/_ingest_native.cpp"],
    libraries=["simdjson", "crypto"],
    extra_compile_args=["-std=c++17", "-O2"],
    language="c++",
    optional=True,  # without a compiler or the libraries, ingest takes its Python paths (slower, same results)
)])
