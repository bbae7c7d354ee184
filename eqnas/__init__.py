"""eqnas: search and scale equivariant convolutional networks."""
__version__ = "0.1.0"

from eqnas.arch import Arch, Stage, Stem  # noqa: E402
from eqnas.build import build, load  # noqa: E402
from eqnas.nn import export  # noqa: E402

__all__ = ["Arch", "Stage", "Stem", "build", "export", "load", "__version__"]
