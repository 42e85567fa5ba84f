"""Baseline agents, with the same interface as drol.agents."""
