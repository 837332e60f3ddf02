"""shm-signal (spec/shm.md, SHM-SIGNAL-*): the target sends and the suite receives
(``shm.signal.sender.*``), or the suite sends and the target receives
(``shm.signal.receiver.*``).

The suite's side is the Python reference (``SignalSender``, ``SignalReceiver``, and for the
signalled table the clock device), or stores of its own for garbage in the signal's words.
The races (an injection against ``enable``, an update against a service) are stepped on a
target that speaks the access protocol, and otherwise ordered as whole operations in the
order that loses a wakeup when the re-check is missing. Every case checks that nothing
around the signal changed.
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.cases import Outcome, Result, require
from virtiospec.conformance.shm.api import (
    ClockSetup,
    SignalSetup,
    SteppedClockDriver,
    SteppedSignalReceiver,
    SteppedSignalSender,
    Stepper,
)
from virtiospec.conformance.suites.shm.common import (
    WHOLE,
    check_untouched,
    refuses_layouts,
    shm_case,
    side,
    snapshot,
    stepped,
)
from virtiospec.reference.access import Fence, Load, Store, run
from virtiospec.reference.shm import ClockDevice, SignalReceiver, SignalSender

U64 = (1 << 64) - 1


def _sender(target: Any, setup: SignalSetup) -> Any:
    return side(target, "shm_signal_sender", setup)


def _receiver(target: Any, setup: SignalSetup) -> Any:
    return side(target, "shm_signal_receiver", setup)


def _words(setup: SignalSetup) -> tuple[int, int]:
    """(enabled, pending) as they are in memory."""
    return setup.memory.read(setup.enabled_addr, 4), setup.memory.read(setup.pending_addr, 4)


def _set(setup: SignalSetup, enabled: int, pending: int) -> None:
    setup.memory.write(setup.enabled_addr, 4, enabled)
    setup.memory.write(setup.pending_addr, 4, pending)


def _inject(tx: Any, setup: SignalSetup) -> tuple[bool, list[Any]]:
    """One injection of the target; its accesses when it can be stepped."""
    if isinstance(tx, SteppedSignalSender):
        st = Stepper(tx.inject_op(), setup, what="inject")
        return bool(st.finish()), st.accesses
    return bool(tx.inject()), []


def _sender_stores(setup: SignalSetup, accesses: list[Any], what: str) -> None:
    for a in accesses:
        if isinstance(a, Store):
            require(a.addr == setup.pending_addr and a.value == 1,
                    f"SHM-SIGNAL-001: the sender stores only 1, only to pending ({what})",
                    f"Store({setup.pending_addr:#x}, 4, 1)", str(a))


def _receiver_stores(setup: SignalSetup, accesses: list[Any], what: str) -> None:
    for a in accesses:
        if isinstance(a, Store):
            ok = ((a.addr == setup.enabled_addr and a.value in (0, 1))
                  or (a.addr == setup.pending_addr and a.value == 0))
            require(ok, f"SHM-SIGNAL-001: the receiver stores 0 or 1 to enabled, 0 to pending "
                    f"({what})", "one of those", str(a))


# -- the target sends -------------------------------------------------------------------------

@shm_case("shm.signal.sender.notifies-when-enabled", ("SHM-SIGNAL-001", "SHM-SIGNAL-002"),
          "sender", "inject sets pending and asks for a notification exactly when the receiver "
          "has enabled it; it never stores to enabled")
def sender_notifies(target: Any) -> None:
    setup = SignalSetup()
    tx = _sender(target, setup)
    rx = SignalReceiver(setup.layout())
    before = snapshot(setup)
    run(rx.enable(), setup.memory)
    notify, acc = _inject(tx, setup)
    _sender_stores(setup, acc, "enabled")
    require(notify, "SHM-SIGNAL-002: a notification when enabled is non-zero", "True", "False")
    require(_words(setup) == (1, 1), "SHM-SIGNAL-002: pending := 1, enabled untouched",
            "(enabled 1, pending 1)", str(_words(setup)))
    run(rx.disable(), setup.memory)
    run(rx.acknowledge(), setup.memory)
    notify, acc = _inject(tx, setup)
    _sender_stores(setup, acc, "disabled")
    require(not notify, "SHM-SIGNAL-002: no notification while the receiver is disabled",
            "False", "True")
    require(_words(setup) == (0, 1), "SHM-SIGNAL-002: pending := 1, enabled untouched",
            "(enabled 0, pending 1)", str(_words(setup)))
    check_untouched(setup, before, "injections", setup.span())


@shm_case("shm.signal.sender.coalesces", ("SHM-SIGNAL-002", "SHM-SIGNAL-011"), "sender",
          "50 injections while the receiver is busy cost one notification; after an "
          "acknowledgement, one more")
def sender_coalesces(target: Any) -> None:
    setup = SignalSetup()
    tx = _sender(target, setup)
    rx = SignalReceiver(setup.layout())
    run(rx.enable(), setup.memory)
    notifications = 0
    for burst in (1, 2):
        for n in range(50):
            notify, acc = _inject(tx, setup)
            notifications += notify
            if n:
                require(not [a for a in acc if isinstance(a, Store)],
                        "SHM-SIGNAL-002: a coalesced injection stores nothing", "no store",
                        str(acc))
            require(_words(setup)[1] == 1, "SHM-SIGNAL-002: pending stays 1", "1",
                    str(_words(setup)[1]))
        require(notifications == burst, f"SHM-SIGNAL-011: notifications after burst {burst} "
                f"(acknowledgements: {rx.acknowledgements})", str(burst), str(notifications))
        run(rx.acknowledge(), setup.memory)  # the receiver catches up, stays enabled
    require(notifications <= rx.acknowledgements + 1, "SHM-SIGNAL-011: notifications <= "
            "acknowledgements + 1", f"<= {rx.acknowledgements + 1}", str(notifications))


@shm_case("shm.signal.sender.full-barriers", ("SHM-SIGNAL-003", "SHM-SIGNAL-004"), "sender",
          "an mb before loading pending, and an mb between storing pending and loading enabled")
def sender_barriers(target: Any) -> None:
    setup = SignalSetup()
    tx = stepped(target, _sender(target, setup), SteppedSignalSender, "sender")
    _set(setup, 1, 0)
    for what in ("an injection", "a coalesced injection"):
        st = Stepper(tx.inject_op(), setup, what="inject")
        st.finish()
        acc = st.accesses
        loads = [i for i, a in enumerate(acc) if isinstance(a, Load)
                 and a.addr == setup.pending_addr]
        require(bool(loads), f"SHM-SIGNAL-002: {what} loads pending", "a load of pending",
                str(acc))
        require(any(isinstance(a, Fence) and a.kind == "mb" for a in acc[: loads[0]]),
                f"SHM-SIGNAL-003: {what}: an mb before the load of pending", "Fence(mb) first",
                str(acc))
        stores = [i for i, a in enumerate(acc) if isinstance(a, Store)]
        enabled = [i for i, a in enumerate(acc) if isinstance(a, Load)
                   and a.addr == setup.enabled_addr]
        if stores:
            require(bool(enabled) and enabled[0] > stores[0], f"SHM-SIGNAL-002: {what} loads "
                    "enabled after storing pending", "store pending, load enabled", str(acc))
            require(any(isinstance(a, Fence) and a.kind == "mb"
                        for a in acc[stores[0] + 1 : enabled[0]]),
                    f"SHM-SIGNAL-004: {what}: an mb between pending := 1 and the load of "
                    "enabled", "Fence(mb)", str(acc[stores[0] : enabled[0] + 1]))


@shm_case("shm.signal.sender.garbage-words", ("SHM-SIGNAL-001", "SHM-SIGNAL-002"), "sender",
          "any non-zero pending counts as set (coalesced), any non-zero enabled as enabled, and "
          "the sender stores exactly 1")
def sender_garbage(target: Any) -> None:
    setup = SignalSetup()
    tx = _sender(target, setup)
    _set(setup, 1, 0xDEADBEEF)
    notify, _ = _inject(tx, setup)
    require(not notify, "SHM-SIGNAL-001: pending 0xdeadbeef is set: coalesced", "False", "True")
    _set(setup, 0x80000000, 0)
    notify, _ = _inject(tx, setup)
    require(notify, "SHM-SIGNAL-001: enabled 0x80000000 is enabled: notify", "True", "False")
    require(_words(setup) == (0x80000000, 1), "SHM-SIGNAL-001: the sender stores 1 to pending "
            "and nothing to enabled", "(0x80000000, 1)", str(tuple(map(hex, _words(setup)))))
    notify, _ = _inject(tx, setup)
    require(not notify, "SHM-SIGNAL-011: coalesced while pending", "False", "True")


def _outside() -> list[tuple[Any, set[str], str]]:
    return [(SignalSetup(offset=0xFC), {"SHM-REGION-007"},
             "a signal at offset 0xfc of a 0x100-byte region"),
            (SignalSetup(offset=U64 - 3), {"SHM-REGION-007"},
             "a signal at offset 2^64 - 4 (offset + 8 overflows)")]


def _misaligned() -> list[tuple[Any, set[str], str]]:
    return [(SignalSetup(offset=0x12), {"SHM-SIGNAL-001", "SHM-REGION-008"},
             "a signal at offset 0x12"),
            (SignalSetup(base=0x104), {"SHM-REGION-008"}, "a region based at 0x104")]


@shm_case("shm.signal.sender.rejects-outside-region", ("SHM-REGION-007",), "sender",
          "a signal that does not fit its region, or whose end overflows, is refused untouched")
def sender_outside(target: Any) -> Result:
    return refuses_layouts(target, "shm_signal_sender", _outside())


@shm_case("shm.signal.sender.rejects-misaligned", ("SHM-SIGNAL-001", "SHM-REGION-008"),
          "sender", "a signal at an offset that is not 4-aligned, or a region not 8-aligned, "
          "is refused")
def sender_misaligned(target: Any) -> Result:
    return refuses_layouts(target, "shm_signal_sender", _misaligned())


# -- the target receives ----------------------------------------------------------------------

def _receiver_op(rx: Any, setup: SignalSetup, name: str) -> Any:
    """``disable``, ``acknowledge`` or ``enable`` of the target, its stores checked when it
    can be stepped."""
    if isinstance(rx, SteppedSignalReceiver):
        st = Stepper(getattr(rx, f"{name}_op")(), setup, what=name)
        result = st.finish()
        _receiver_stores(setup, st.accesses, name)
        return result
    return getattr(rx, name)()


@shm_case("shm.signal.receiver.enable-disable-acknowledge", ("SHM-SIGNAL-001", "SHM-SIGNAL-005",
          "SHM-SIGNAL-007"), "receiver", "enable stores 1 to enabled, disable 0, acknowledge 0 to "
          "pending; pending reports the sender's mark; nothing else is stored")
def receiver_basic(target: Any) -> None:
    setup = SignalSetup()
    rx = _receiver(target, setup)
    tx = SignalSender(setup.layout())
    before = snapshot(setup)
    require(not _receiver_op(rx, setup, "enable"), "SHM-SIGNAL-006: enable with nothing "
            "pending: wait", "False", "True")
    require(_words(setup) == (1, 0), "SHM-SIGNAL-006: enable stores 1 to enabled", "(1, 0)",
            str(_words(setup)))
    require(not rx.pending(), "SHM-SIGNAL-001: nothing pending", "False", "True")
    _receiver_op(rx, setup, "disable")
    require(_words(setup) == (0, 0), "SHM-SIGNAL-007: disable stores 0 to enabled", "(0, 0)",
            str(_words(setup)))
    require(not run(tx.inject(), setup.memory), "SHM-SIGNAL-002: the suite's injection while "
            "disabled", "no notification", "a notification")
    require(rx.pending(), "SHM-SIGNAL-001: pending after an injection", "True", "False")
    _receiver_op(rx, setup, "acknowledge")
    require(_words(setup) == (0, 0), "SHM-SIGNAL-005: acknowledge stores 0 to pending only",
            "(0, 0)", str(_words(setup)))
    require(not rx.pending(), "SHM-SIGNAL-005: nothing pending after acknowledging", "False",
            "True")
    check_untouched(setup, before, "the receiver", setup.span())


@shm_case("shm.signal.receiver.enable-rechecks", ("SHM-SIGNAL-006", "SHM-SIGNAL-010"),
          "receiver", "an injection before or during enable is never lost: enable reports it, "
          "or the injection notifies")
def receiver_rechecks(target: Any) -> Result | None:
    setup = SignalSetup()
    rx = _receiver(target, setup)
    tx = SignalSender(setup.layout())
    rx.disable()
    rx.acknowledge()
    notified = run(tx.inject(), setup.memory)  # while the receiver processes: no notification
    require(not notified, "SHM-SIGNAL-002: no notification while disabled", "False", "True")
    require(rx.enable(), "SHM-SIGNAL-006: enable re-checks pending and does not wait",
            "True (pending)", "False: the receiver waits, the injection is lost")
    if not isinstance(rx, SteppedSignalReceiver):
        return Result(Outcome.PASS, WHOLE)
    probe = SignalSetup()
    st = Stepper(_receiver(target, probe).enable_op(), probe, what="enable")
    st.finish()
    n = len(st.accesses)
    for p in range(n + 1):
        fresh = SignalSetup()
        rx = _receiver(target, fresh)
        tx = SignalSender(fresh.layout())
        rx.disable()
        rx.acknowledge()
        en = Stepper(rx.enable_op(), fresh, what="enable")
        en.steps(p)
        notified = run(tx.inject(), fresh.memory)
        rechecked = en.finish()
        require(bool(rechecked) or notified, f"SHM-SIGNAL-010: an injection after access {p} "
                f"of {n} of enable", "enable returns 1, or the injection notifies",
                "neither: the receiver waits with the injection unseen")
    return None


@shm_case("shm.signal.receiver.full-barriers", ("SHM-SIGNAL-005", "SHM-SIGNAL-006"), "receiver",
          "acknowledge: pending := 0, then mb; enable: enabled := 1, mb, then load pending")
def receiver_barriers(target: Any) -> None:
    setup = SignalSetup()
    rx = stepped(target, _receiver(target, setup), SteppedSignalReceiver, "receiver")
    _set(setup, 0, 1)
    st = Stepper(rx.acknowledge_op(), setup, what="acknowledge")
    st.finish()
    acc = st.accesses
    clear = [i for i, a in enumerate(acc) if isinstance(a, Store) and a.addr == setup.pending_addr]
    require(bool(clear), "SHM-SIGNAL-005: acknowledge stores 0 to pending", "a store", str(acc))
    require(any(isinstance(a, Fence) and a.kind == "mb" for a in acc[clear[0] + 1 :]),
            "SHM-SIGNAL-005: an mb after pending := 0, before the state is read", "Fence(mb)",
            str(acc))
    en = Stepper(rx.enable_op(), setup, what="enable")
    en.finish()
    acc = en.accesses
    store = [i for i, a in enumerate(acc) if isinstance(a, Store) and a.addr == setup.enabled_addr]
    load = [i for i, a in enumerate(acc) if isinstance(a, Load) and a.addr == setup.pending_addr]
    require(bool(store) and bool(load) and store[0] < load[-1], "SHM-SIGNAL-006: enable stores "
            "enabled, then loads pending", "store enabled, load pending", str(acc))
    require(any(isinstance(a, Fence) and a.kind == "mb" for a in acc[store[0] + 1 : load[-1]]),
            "SHM-SIGNAL-006: an mb between enabled := 1 and the load of pending", "Fence(mb)",
            str(acc))


@shm_case("shm.signal.receiver.garbage-pending", ("SHM-SIGNAL-001",), "receiver",
          "any non-zero pending counts as set; acknowledge stores exactly 0, disable exactly 0")
def receiver_garbage(target: Any) -> None:
    setup = SignalSetup()
    rx = _receiver(target, setup)
    _set(setup, 0, 0xFFFFFFFF)
    require(rx.pending(), "SHM-SIGNAL-001: pending 0xffffffff is set", "True", "False")
    require(rx.enable(), "SHM-SIGNAL-001: enable sees pending 0xffffffff as set", "True",
            "False")
    rx.acknowledge()
    require(_words(setup) == (1, 0), "SHM-SIGNAL-005: acknowledge stores 0 to pending",
            "(1, 0)", str(_words(setup)))
    _set(setup, 7, 2)
    rx.disable()
    require(rx.enable(), "SHM-SIGNAL-001: pending 2 is set", "True", "False")
    rx.disable()
    require(_words(setup) == (0, 2), "SHM-SIGNAL-007: disable stores 0 to enabled, not to "
            "pending", "(0, 2)", str(_words(setup)))


@shm_case("shm.signal.receiver.acknowledges-before-reading", ("SHM-SIGNAL-005",
          "SHM-SIGNAL-010", "SHM-TABLE-012"), "receiver", "the clock's driver acknowledges "
          "before it reads the table: an update at any point of its service is read, or "
          "re-checked, never lost")
def receiver_service(target: Any) -> None:
    t1, t2 = (1 << 32) - 1, (1 << 32) + 5
    probe = ClockSetup()
    drv = stepped(target, side(target, "shm_clock_driver", probe), SteppedClockDriver,
                  "clock driver")
    dev = ClockDevice(probe.layout())
    run(dev.publish(t1), probe.memory)
    st = Stepper(drv.service_op(), probe, probe.table().read_budget(), "service")
    st.finish()
    n = len(st.accesses)
    for p in range(n + 1):
        setup = ClockSetup()
        drv = side(target, "shm_clock_driver", setup)
        dev = ClockDevice(setup.layout())
        require(not Stepper(drv.wait_prepare_op(), setup).finish(), "SHM-SIGNAL-006: nothing "
                "pending at first", "False", "True")
        notified = run(dev.publish(t1), setup.memory)
        require(notified, "SHM-SIGNAL-002: the first publication notifies", "True", "False")
        acted: list[int] = []
        sv = Stepper(drv.service_op(), setup, setup.table().read_budget(), "service")
        sv.steps(p)
        notified = run(dev.publish(t2), setup.memory)
        if (now := sv.finish()) is not None:
            acted.append(now)
        for _ in range(4):  # woken by a notification, or by pending at its re-check
            if not notified and not Stepper(drv.wait_prepare_op(), setup).finish():
                break  # waits
            notified = False
            if (now := Stepper(drv.service_op(), setup, setup.table().read_budget(),
                               "service").finish()) is not None:
                acted.append(now)
        require(bool(acted) and acted[-1] == t2, f"SHM-SIGNAL-010: the time published after "
                f"access {p} of {n} of the service is acted on", f"{t2:#x} last",
                f"acted on {[hex(t) for t in acted]}, then waited: a lost wakeup")


@shm_case("shm.signal.receiver.rejects-outside-region", ("SHM-REGION-007",), "receiver",
          "a signal that does not fit its region, or whose end overflows, is refused untouched")
def receiver_outside(target: Any) -> Result:
    return refuses_layouts(target, "shm_signal_receiver", _outside())


@shm_case("shm.signal.receiver.rejects-misaligned", ("SHM-SIGNAL-001", "SHM-REGION-008"),
          "receiver", "a signal at an offset that is not 4-aligned, or a region not 8-aligned, "
          "is refused")
def receiver_misaligned(target: Any) -> Result:
    return refuses_layouts(target, "shm_signal_receiver", _misaligned())
