"""drol: reproducibility suite and results database for DROL (dynamic routing for offline RL)."""

from importlib.metadata import version

__version__ = version("drol")  # the installed package's metadata (pyproject.toml), never a second copy
