"""The eSIM profile's life on our side, as one table of allowed moves (pure).

``preparing → ready → installed → active`` follows the profile from the
SM-DP+ to the phone and onto the network; staff can suspend and resume a live
eSIM; ``terminated`` is the end. The device and network milestones are facts
that may arrive late, twice or out of order (an SM-DP+ callback after the
network already reported usage), so the status only ever moves forward along
that line: see :func:`progressed`.
"""

from __future__ import annotations

PREPARING, READY, INSTALLED, ACTIVE, SUSPENDED, TERMINATED = (
    "preparing",
    "ready",
    "installed",
    "active",
    "suspended",
    "terminated",
)
STATUSES = (PREPARING, READY, INSTALLED, ACTIVE, SUSPENDED, TERMINATED)
# Where the profile has got to; a milestone never takes the status back down this line.
PROGRESS = (PREPARING, READY, INSTALLED, ACTIVE)
LIVE = frozenset({PREPARING, READY, INSTALLED, ACTIVE, SUSPENDED})

TRANSITIONS: dict[str, frozenset[str]] = {
    PREPARING: frozenset({READY, TERMINATED}),
    # A phone may reach the network before the SM-DP+'s installation callback arrives.
    READY: frozenset({INSTALLED, ACTIVE, SUSPENDED, TERMINATED}),
    INSTALLED: frozenset({ACTIVE, SUSPENDED, TERMINATED}),
    ACTIVE: frozenset({SUSPENDED, TERMINATED}),
    SUSPENDED: frozenset({READY, INSTALLED, ACTIVE, TERMINATED}),
    TERMINATED: frozenset(),
}


class TransitionRefused(ValueError):
    """A move the table does not allow."""


def check_transition(current: str, new: str) -> None:
    if new not in TRANSITIONS.get(current, frozenset()):
        raise TransitionRefused(f"{current} -> {new}")


def progressed(current: str, reached: str) -> bool:
    """True when a milestone ``reached`` moves an eSIM in ``current`` forward (never backwards)."""
    if current not in PROGRESS or reached not in PROGRESS:
        return False
    return PROGRESS.index(reached) > PROGRESS.index(current)


def resumed_status(*, installed: bool, used: bool) -> str:
    """Where a suspended eSIM goes back to: as far as the facts gathered meanwhile say it got.

    Only a ready (or later) eSIM can be suspended, so ``ready`` is the floor.
    """
    if used:
        return ACTIVE
    return INSTALLED if installed else READY
