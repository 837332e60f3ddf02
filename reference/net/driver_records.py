"""What the network driver (:mod:`.driver`) records: the frames it hands out, the tokens of
the buffers it makes available (so that a reset can take every one back, NET-062), its
counters, and the lines a known-bad variant may turn off."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from virtiospec.reference.net.header import HDR_LEN, NetHdr

DEFAULT_RX_BUF = HDR_LEN + 1514  # NET-013
CTRL_BUF = 1024


@dataclass(frozen=True)
class RxFrame:
    pair: int
    frame: bytes
    hdr: NetHdr
    buffers: int
    # NET-135: "device" (DATA_VALID), "ok" / "bad" (the driver checked the TCP/UDP checksum
    # itself), "none" (not a TCP/UDP frame over IPv4, nothing to check)
    checksum: str = "none"
    # where the payload after the TCP/UDP header begins (the end of the frame's headers, for
    # a stack that takes headers apart): found by parsing, never from hdr_len (NET-134)
    payload_at: int = 0


@dataclass(frozen=True)
class TxToken:
    pair: int
    seq: int
    frame: bytes
    addr: int
    csum: bool


@dataclass(frozen=True)
class RxToken:
    addr: int


@dataclass(frozen=True)
class CtrlToken:
    addr: int
    length: int


@dataclass
class DriverStats:
    tx_queued: int = 0
    tx_done: int = 0
    tx_requeued: int = 0
    rx_frames: int = 0
    rx_refused: int = 0
    kicks: int = 0
    config_changes: int = 0
    recoveries: int = 0
    ctrl_ok: int = 0
    ctrl_err: int = 0


@dataclass
class Pending:
    """Frames waiting for room in a transmit queue: (seq, frame, csum)."""

    frames: deque[tuple[int, bytes, bool]] = field(default_factory=deque)


@dataclass(frozen=True)
class NetDriverLines:
    """The lines of :class:`NetDriver` a known-bad variant (models/net/mutants.py) may turn
    off; every default is the protocol."""

    take_back_at_reset: bool = True  # recover: take every buffer back (NET-062)
    reap_used_at_reset: bool = True  # recover: the used ones first (NET-062)
    config_generation_loop: bool = True  # config_changed: one generation loop (VIRTIO-PCI-051)
    rx_ctrl_needs_feature: bool = True  # RX and MAC commands only with CTRL_RX (NET-033)
    rx_extra_needs_feature: bool = True  # the extra RX commands only with CTRL_RX_EXTRA (NET-138)
    pairs_in_range: bool = True  # VQ_PAIRS_SET only for 1..max_virtqueue_pairs (NET-037)
    rx_before_pairs: bool = True  # receive buffers on every pair before enabling it (NET-144)
    more_pairs_after_ack: bool = True  # transmit on new pairs only once acknowledged (NET-039)
    check_rx_checksum: bool = True  # without DATA_VALID, verify the checksum itself (NET-135)
    tx_full_header: bool = True  # transmit: the header as long as on receive (NET-112)
    gso_needs_feature: bool = True  # segmentation only with its HOST_* feature (NET-113)
    tx_within_mtu: bool = True  # transmit: no frame beyond mtu + 14 (+ a tag) (NET-108)
    rx_size_counts_header: bool = True  # receive buffers sized with the header (NET-124)
    hdr_len_untrusted: bool = True  # receive: hdr_len is no measure of the headers (NET-134)
