"""The ``gxp`` command (entry point ``gxp_assets.cli.main:main``): one module per command group.

Imports point one way: ``main`` registers the leaf modules' subcommands; leaves import the shared layer (``common``,
``signing``, ``runs``, ``views``), which imports no leaf. This file imports nothing, so that importing any of them
never drags in the rest.
"""


def __getattr__(name: str) -> object:
    """``gxp_assets.cli:main`` for console scripts installed before the entry point moved (pip reinstall fixes it)."""
    if name == "main":
        from gxp_assets.cli.main import main

        return main
    raise AttributeError(name)
