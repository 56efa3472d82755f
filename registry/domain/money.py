"""Money is exact: integer cents in storage, ``Decimal`` at the edges, never a float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def decimal_to_cents(amount: Decimal | str | int) -> int:
    if isinstance(amount, float):  # type: ignore[unreachable]
        raise TypeError("money is never a float")
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return int(value * 100)


def allocate(total_cents: int, weights: list[int]) -> list[int]:
    """Split ``total_cents`` in proportion to ``weights`` so that the parts add up to the cent.

    Largest-remainder method; ties go to the earlier share so the result is deterministic.
    """
    if total_cents < 0:
        raise ValueError("cannot allocate a negative amount")
    if not weights or any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative and non-empty")
    weight_sum = sum(weights)
    if weight_sum == 0:
        weights = [1] * len(weights)
        weight_sum = len(weights)
    floors = [total_cents * w // weight_sum for w in weights]
    remainders = [total_cents * w % weight_sum for w in weights]
    left = total_cents - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return floors
