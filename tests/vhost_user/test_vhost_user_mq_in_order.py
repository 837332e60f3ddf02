

# -- the cases against known-bad observations --------------------------------------------------
class _Observed:
    """A target whose driver session is a given observation."""

    name = "observed"

    def __init__(self, obs: DriverObservation) -> None:
        self.obs = obs

    def net_driver_session(self) -> DriverObservation:
        return self.obs


def _good(features: int) -> DriverObservation:
    obs = DriverObservation("hand-made", features=features, tx_frames=[b"x"],
                            round_trips={"frames": (10, 10)}, pairs_wanted=2, pairs_enabled=2,
                            steered=10, in_order_checked=10)
    obs.rx_pairs.update({0: 5, 1: 5})
    obs.tx_pairs.update({0: 5, 1: 5})
    obs.mq_traffic_required = True
    return obs


@pytest.mark.req("RING-SPLIT-094", "RING-PACKED-093", "VHOST-USER-010", "NET-040")
@pytest.mark.parametrize("bad", ["none", "out-of-order", "packed-out-of-order", "one-pair",
                                 "misteered", "idle-pair", "beyond"])
def test_cases_catch_known_bad_observations(bad: str) -> None:
    from virtiospec.conformance import cases, runner

    feats = F.of(F.VERSION_1, F.MQ, F.IN_ORDER) | (F.bit(F.RING_PACKED)
                                                   if bad == "packed-out-of-order" else 0)
    obs = _good(feats)
    if bad in ("out-of-order", "packed-out-of-order"):
        obs.out_of_order = ["vring 1: used element 3 names head 5, ..."]
    elif bad == "one-pair":
        obs.pairs_enabled = 1
    elif bad == "misteered":
        obs.misteered = ["a frame of 60 bytes due on pair 1 placed on pair 0"]
    elif bad == "idle-pair":
        obs.tx_pairs = Counter({0: 10})
    elif bad == "beyond":
        obs.rx_pairs[2] = 1
    target = _Observed(obs)
    got = {cid: runner.run_case(cases.discover()[cid], target)
           for cid in ("net.driver.in-order", "net.driver.multiqueue")}
    order, mq = got["net.driver.in-order"], got["net.driver.multiqueue"]
    if bad == "none":
        assert order.outcome is cases.Outcome.PASS and mq.outcome is cases.Outcome.PASS
    elif bad.endswith("out-of-order"):
        assert order.outcome is not cases.Outcome.PASS and mq.outcome is cases.Outcome.PASS
        assert order.req == ("RING-PACKED-093" if bad.startswith("packed") else
                             "RING-SPLIT-094"), order
    else:
        assert order.outcome is cases.Outcome.PASS and mq.outcome is not cases.Outcome.PASS
        want = {"one-pair": "VHOST-USER-010", "misteered": "NET-040", "beyond": "NET-038"}
        if bad in want:
            assert mq.req == want[bad], mq
