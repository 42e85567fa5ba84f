"""Agents by method name. FQL lives in `baselines/` and shares the interface of `base.OneStepAgent`."""

from baselines.fql import FQLAgent, FQLConfig
from drol.agents.drol import DROLAgent, DROLConfig

AGENTS = {"drol": (DROLAgent, DROLConfig), "fql": (FQLAgent, FQLConfig)}
