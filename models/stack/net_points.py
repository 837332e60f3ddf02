"""Where the stepped network stack (models/stack/net_machine.py) is preempted: the words
where its layers meet (ring indices and event words, signal words, in both sides' address
spaces), the stores that enable a notification again, the barriers before register accesses;
and the rules that run one side to just before its ``k``-th such point and let the other
side or the host act there."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule
from virtiospec.models.machine_base import DriverDeviceMachine, guarded
from virtiospec.models.memory.tso import AddressNames, Side
from virtiospec.models.stack.ring import DEV_TAG
from virtiospec.reference.access import Fence, Load, Store
from virtiospec.reference.stack.net_driver import CONFIG_VECTOR, MSI_DATA
from virtiospec.reference.stack.net_stack import Stack


class StackNetPoints(DriverDeviceMachine):
    """The preemption points and rules of :class:`~.net_machine.StackNetMachine`."""

    stack: Stack
    dside: Side
    vside: Side

    def _call(self, side: str, fn: Callable[[], object], label: str, run: str) -> None:
        raise NotImplementedError

    def _device_may_serve(self) -> bool:
        raise NotImplementedError

    def device_service(self, run: str) -> None:
        raise NotImplementedError

    def driver_send(self, run: str) -> None:
        raise NotImplementedError

    def _name_queues(self, names: AddressNames) -> None:
        self.seam: set[int] = set()  # the words where the layers meet: indices, signals
        self.enables: set[int] = set()  # words a side stores to enable a notification
        self.set_to_enable: set[int] = set()  # ... by a non-zero value (flags words by 0)
        self.events: set[int] = set()  # ... by any value (the event words)
        for index, dring in self.stack.driver.rings.items():
            q = self.stack.queue_name(index)
            lay = dring.shm_layout
            r = lay.ring
            for at, where in ((0, " (BAR4)"), (DEV_TAG, "")):
                for field_name in ("avail_flags", "avail_idx", "used_event", "used_flags",
                                   "used_idx", "avail_event"):
                    label = field_name.replace("_", ".", 1) if "event" not in field_name \
                        else field_name
                    names.field(at + getattr(r, field_name), f"{q}.{label}{where}")
                    self.seam.add(at + getattr(r, field_name))
                    if field_name in ("avail_flags", "used_flags"):
                        self.enables.add(at + getattr(r, field_name))
                    elif "event" in field_name:
                        self.enables.add(at + getattr(r, field_name))
                        self.events.add(at + getattr(r, field_name))
                for sig in ("kick", "call"):
                    s = getattr(lay, sig)
                    names.field(at + lay.region.base + s.enabled, f"{q}.{sig}.enabled{where}")
                    names.field(at + lay.region.base + s.pending, f"{q}.{sig}.pending{where}")
                    self.seam |= {at + lay.region.base + s.enabled,
                                  at + lay.region.base + s.pending}
                    self.enables.add(at + lay.region.base + s.enabled)
                    self.set_to_enable.add(at + lay.region.base + s.enabled)

    def _point(self, action: object, point: str) -> bool:
        """Whether ``action`` is a preemption point of kind ``point``: ``seam``, an access to
        a word where the layers meet (an index, an event word, a signal word); ``enable``,
        a store that enables a notification again (a flags word := 0, an event word, a
        signal's ``enabled`` := 1), where the lost wakeups are; ``register``, the barrier
        before a register access (the generation loop's steps)."""
        if point == "register":
            return isinstance(action, Fence) and action.kind == "mb"
        if not isinstance(action, (Load, Store)) or action.addr not in self.seam:
            return False
        if point == "seam":
            return True
        if not isinstance(action, Store) or action.addr not in self.enables:
            return False
        return action.addr in self.events or (action.value != 0) == \
            (action.addr in self.set_to_enable)

    def _preempt(self, side: Side, point: str, k: int) -> None:
        """Run ``side`` (at least one access) up to just before its ``k``-th next
        preemption point of kind ``point``."""
        for _ in range(4096):
            if not side.enabled():
                return
            self._step(side)
            self.accounting()
            self.no_lost_wakeup()
            if self._point(side.next, point):
                k -= 1
                if k == 0:
                    return

    @precondition(lambda m: m.ready and m.dside.enabled())
    @rule(point=st.sampled_from(("seam", "enable", "register")), k=st.integers(1, 12))
    @guarded
    def driver_preempt(self, point: str, k: int) -> None:
        self._preempt(self.dside, point, k)

    @precondition(lambda m: m.ready and m.vside.enabled())
    @rule(point=st.sampled_from(("seam", "enable")), k=st.integers(1, 8))
    @guarded
    def device_preempt(self, point: str, k: int) -> None:
        self._preempt(self.vside, point, k)

    @precondition(lambda m: m.ready and not m.dside.busy and not m.vside.busy
                  and m.sent < m.cfg.frames and m._device_may_serve())
    @rule(point=st.sampled_from(("seam", "enable")), k=st.integers(1, 4))
    @guarded
    def send_during_service(self, point: str, k: int) -> None:
        """The device starts a service and is preempted just before its ``k``-th
        preemption point; the driver sends a frame, to the end of its call."""
        self.device_service("")
        self._preempt(self.vside, point, k)
        self.driver_send("finish")

    @precondition(lambda m: m.ready and not m.dside.busy and not m.vside.busy
                  and m._queue_message() is not None and m._device_may_serve())
    @rule(point=st.sampled_from(("seam", "enable")), k=st.integers(1, 4))
    @guarded
    def service_during_interrupt(self, point: str, k: int) -> None:
        """The driver takes a used-buffer notification and is preempted just before its
        ``k``-th preemption point; the device serves, to the end of its call."""
        at = self._queue_message()
        assert at is not None
        addr, data = self.stack.machine.msi_messages.pop(at)
        self._call("driver", lambda: self.stack.driver.on_message(addr, data),
                   f"MSI-X vector {data - MSI_DATA}", "")
        self._preempt(self.dside, point, k)
        self.device_service("finish")

    def _queue_message(self) -> int | None:
        for at, (_, data) in enumerate(self.stack.machine.msi_messages):
            if data - MSI_DATA != CONFIG_VECTOR:
                return at
        return None
