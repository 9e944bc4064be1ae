"""The one record of a session's pause: asked, taken, the reason in force and time paused."""

from __future__ import annotations

__all__ = ["PauseState"]


class PauseState:
    """Whether the user asked for a pause, whether the loop took it, and why the session waits.

    `asked` (pause() until resume()) forbids a new START at once; `taken` is set by the
    control loop when it acted on the pause; `reason` is that of the session.paused in
    force ("" while running): "user", or "link_lost" while the link is down.
    """

    def __init__(self) -> None:
        self.asked = False
        self.taken = False
        self.reason = ""
        self._since_s: float | None = None
        self._total_s = 0.0

    @property
    def paused(self) -> bool:
        """True while a session.paused is in force."""
        return bool(self.reason)

    def enter(self, now_s: float, reason: str) -> bool:
        """Pause for `reason`; False if already paused for it (nothing to tell)."""
        if self.reason == reason:
            return False
        self.reason = reason
        if self._since_s is None:
            self._since_s = now_s
        return True

    def leave(self, now_s: float) -> None:
        """Running again: the time paused is counted."""
        self.reason = ""
        self.stop_counting(now_s)

    def stop_counting(self, now_s: float) -> None:
        """Add the time paused so far to the total (at a resume or the end)."""
        if self._since_s is not None:
            self._total_s += now_s - self._since_s
            self._since_s = None

    def paused_s(self, now_s: float) -> float:
        """Seconds spent paused up to now_s."""
        ongoing = now_s - self._since_s if self._since_s is not None else 0.0
        return self._total_s + ongoing
