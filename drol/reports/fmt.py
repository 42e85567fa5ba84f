"""Number and text formatting shared by the tables, their notes and the renderers."""

from __future__ import annotations

import math

MISSING = "–"  # en dash: no number (not run, or not reported by the paper); negative numbers use "-"


def present(value) -> bool:
    """A number to show: not None and not NaN."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def text(value) -> str:
    return MISSING if value is None else str(value)


def steps_text(steps: int | None) -> str:
    if steps is None:
        return MISSING
    if steps >= 1_000_000 and steps % 1_000_000 == 0:
        return f"{steps // 1_000_000}M"
    if steps >= 1000 and steps % 1000 == 0:
        return f"{steps // 1000}k"
    return str(steps)


def num(value: float | None, digits: int) -> str:
    if not present(value):
        return MISSING
    out = f"{value:.{digits}f}"
    return "0" + ("." + "0" * digits if digits else "") if float(out) == 0 else out  # no "-0.0"


def signed(value: float | None, digits: int = 1) -> str:
    if not present(value):
        return MISSING
    out = num(value, digits)
    return out if float(out) == 0 or out.startswith("-") else "+" + out


def paper_text(mean, std) -> str:
    return num(mean, 0) + (f" ± {num(std, 0)}" if present(std) else "")


def ours_text(mean, std) -> str:
    return num(mean, 1) + (f" ± {num(std, 1)}" if present(std) else "")


def pair_text(pair) -> str:
    coef, k = pair
    return f"({coef:g}, {k})"


def listing(names: list[str], last: str = "and") -> str:
    """'A', 'A and B', 'A, B and C'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last} {names[-1]}" if names else ""
