"""Agents: DROL here, FQL in `baselines/`; both subclass `base.OneStepAgent` (registry: drol.methods)."""
