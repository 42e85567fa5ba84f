"""drol: reproducibility suite and results database for DROL (dynamic routing for offline RL)."""

__version__ = "0.1.0"
