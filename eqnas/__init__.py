"""eqnas: search and scale equivariant convolutional networks.

Importing this package imports no torch, NNI, Opacus, matplotlib or fvcore: the names below are
imported when first used."""
from eqnas.lazy import lazy_module

__version__ = "0.1.0"

lazy_module(__name__, {
    "Arch": "eqnas.arch:Arch",
    "Stage": "eqnas.arch:Stage",
    "Stem": "eqnas.arch:Stem",
    "build": "eqnas.build:build",
    "create_model": "eqnas.models:create_model",
    "list_models": "eqnas.catalog:list_models",
    "list_spaces": "eqnas.catalog:list_spaces",
    "load": "eqnas.loading:load",
    "export": "eqnas.nn:export",
})

__all__ = ["Arch", "Stage", "Stem", "build", "create_model", "export", "list_models", "list_spaces", "load",
           "__version__"]
