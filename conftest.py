"""Collection for the whole repository: the native engine's module is collected only when the engine is built.

Without it (no compiler or libraries at install) ``archive/ingest_native.py`` cannot be imported:
its doctests are left out, and ``tests/test_ingest_native.py::test_the_engine_is_built`` fails
saying what to do, instead of the whole run stopping on an import error.
"""
try:
    import archive._ingest_native  # noqa: F401

    collect_ignore: list[str] = []
except ImportError:
    collect_ignore = ["archive/ingest_native.py"]
