"""The notification-suppression words, as the four sides' cases check them: the same
steps whether the target is a driver or a device, split or packed, so each case states only
which word and which calls (no case lives here)."""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.conformance.cases import require
from virtiospec.reference.ring.packed.layout import (
    RING_EVENT_FLAGS_DESC,
    RING_EVENT_FLAGS_DISABLE,
    RING_EVENT_FLAGS_ENABLE,
)


def require_flag_word(read: Callable[[], int], word: str, disable: Callable[[], object],
                      enable: Callable[[], object], calls: tuple[str, str]) -> None:
    """Split ring: ``disable`` sets the 16-bit flags ``word`` (read by ``read``) to 1 and
    ``enable`` back to 0 (avail.flags: RING-SPLIT-050, used.flags: RING-SPLIT-060)."""
    for call, name, want in ((disable, calls[0], 1), (enable, calls[1], 0)):
        call()
        flags = read()
        require(flags == want, f"{word} after {name}", str(want), str(flags))


def require_event_index(read: Callable[[int, int], int], flags: tuple[str, int],
                        event: tuple[str, int], after: str) -> None:
    """Split ring with EVENT_IDX: after one entry went round, the side's flags word
    (``flags``: name, address) stays 0 and its event index (``event``) names the next entry,
    1 (used_event: RING-SPLIT-051, avail_event: RING-SPLIT-061)."""
    for at, want, what in ((flags[1], 0, f"{flags[0]} is 0 with EVENT_IDX"),
                           (event[1], 1, f"{event[0]} {after}")):
        got = read(at, 2)
        require(got == want, what, str(want), str(got))


def require_event_word(event: Callable[[], tuple[int, ...]], disable: Callable[[], object],
                       enable: Callable[[], object], calls: tuple[str, str],
                       event_idx: bool) -> None:
    """Packed ring: ``disable`` writes DISABLE to the side's event-suppression structure
    (read by ``event`` as (flags, off, wrap)); ``enable`` writes ENABLE, or with EVENT_IDX
    DESC and off_wrap (1, 0) (RING-PACKED-060, RING-PACKED-061, RING-PACKED-066): the cases
    leave the side's next position at 1 of the second lap."""
    disable()
    flags = event()[0]
    require(flags == RING_EVENT_FLAGS_DISABLE, f"flags after {calls[0]}", "1", str(flags))
    enable()
    got = event()
    want = (RING_EVENT_FLAGS_DESC, 1, 0) if event_idx else (RING_EVENT_FLAGS_ENABLE,)
    require(got[: len(want)] == want, f"(flags, off, wrap) after {calls[1]} "
            f"(EVENT_IDX={event_idx})", str(want), str(got[: len(want)]))
