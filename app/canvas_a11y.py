"""What the canvas says to screen readers: it is painted, so it describes what it shows in words."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .canvas_state import Origin

# The positions the user gave, as a screen reader names them.
_YOURS = ((Origin.PIN, "pinned"), (Origin.GIVEN, "written by you"), (Origin.EDIT, "edited by you"))


def spoken_description(shown: int, gen_length: int, step: int, total_steps: int, shown_origins: Sequence[Origin],
                       text: str) -> str:
    """How many positions are revealed and masked at which step, how many of them the user gave
    (pinned words, infilling's written text, edits), and the text itself."""
    at = f"step {step} of {total_steps}, " if total_steps else ""
    counts = Counter(shown_origins)
    yours = [f"{counts[o]} {what}" for o, what in _YOURS if counts[o]]
    given = f" Of them {', '.join(yours)}." if yours else ""
    return (f"{at}{shown} of {gen_length} tokens revealed, {gen_length - shown} masked (read as ░).{given} "
            f"Text: {text}")
