"""The off-chain channel protocol between in-process parties (no py-ipv8, no chain): lost and forged messages,
vetoes, proposals that would cost the countersigner, bad preimages, expiries. Channels are adopted as open."""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from arena.runtime.keys import node_key
from honest.channels import ChannelManager
from honest.config import NodeConfig
from honest.env import NodeEnv, NoHooks
from honest.messages import Address, PeerInfo
from honest.schema import (
    MESSAGES,
    TX_CHANNEL_CLOSE,
    ChannelState,
    ChannelUpdate,
    ChannelUpdateAck,
    Frozen,
    HtlcFulfill,
    Tx,
    account_of,
    sha256,
)

HANDLERS = {60: "on_propose", 61: "on_accept", 62: "on_update", 63: "on_update_ack", 64: "on_offer",
            65: "on_fulfill", 66: "on_fail", 67: "on_close_request"}
Filter = Callable[["Party", Address, Frozen], Frozen | None]


class Veto(NoHooks):
    """A hook caller whose one plugin refuses every channel update."""

    def has(self, name: str) -> bool:
        return name == "arena_channel_sign_update"

    def channel_sign_update(self, state: ChannelState) -> list[str]:
        return ["not today"]


class Net:
    """Virtual time, 10 ms links, and a filter that may drop (None) or replace a message in flight."""

    def __init__(self) -> None:
        self.t = 0.0
        self.heap: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = 0
        self.parties: dict[Address, Party] = {}
        self.filter: Filter | None = None
        self.events: list[dict[str, Any]] = []

    def now(self) -> float:
        return self.t

    def at(self, t: float, fn: Callable[[], None]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, fn))

    def send(self, src: Party, dst: Address, payload: Frozen) -> None:
        if self.filter is not None:
            out = self.filter(src, dst, payload)
            if out is None:
                return
            payload = out
        data, mid = payload.to_bytes(), payload.msg_id
        to = self.parties[dst]
        self.at(self.t + 0.01, lambda: getattr(to.channels, HANDLERS[mid])(src.public_key, src.address,
                                                                           MESSAGES[mid].from_bytes(data)))

    def run(self, until: float) -> None:
        tick = 0.25
        next_tick = (int(self.t / tick) + 1) * tick
        while True:
            t_next = self.heap[0][0] if self.heap else until + 1
            if min(t_next, next_tick) > until:
                break
            if next_tick <= t_next:
                self.t = next_tick
                for p in self.parties.values():
                    p.channels.tick()
                next_tick += tick
            else:
                t, _, fn = heapq.heappop(self.heap)
                self.t = t
                fn()
        self.t = until

    def of(self, ev: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["ev"] == ev]


class Party:
    role = "light"

    def __init__(self, net: Net, index: int, hooks: NoHooks | None = None, **cfg: Any) -> None:
        self.net = net
        self.key = node_key(7, index)
        self.public_key = bytes(self.key.pub().key_to_bin())
        self.account = account_of(self.public_key)
        self.address: Address = (f"10.0.0.{index + 1}", 7000)
        self.config = NodeConfig(channels=True, **cfg)
        env = NodeEnv(index=index, role="light", clock=net.now, rng=random.Random(index),
                      record=lambda ev, **f: net.events.append({"ev": ev, "t": net.t, **f}))
        if hooks is not None:
            env.hooks = hooks
        self.env = env
        self.drops: Counter[str] = Counter()
        self.nonce = 0
        self.submitted: list[Tx] = []
        self.channels = ChannelManager(self)
        net.parties[self.address] = self

    def send_to(self, address: Address, key: bytes | None, payload: Frozen) -> None:
        self.net.send(self, address, payload)

    def make_tx(self, receiver: bytes, amount: int, fee: int, kind: int = 0, data: bytes = b"") -> Tx:
        self.nonce += 1
        return Tx.create(self.key, kind, receiver, amount, self.nonce, fee, data)

    def submit(self, tx: Tx) -> bool:
        self.submitted.append(tx)
        return False  # no validator: nothing reaches a chain here

    def validators(self) -> list[PeerInfo]:
        return []

    def count_drop(self, reason: str, kind: str = "") -> None:
        self.drops[reason] += 1


def connect(parties: list[Party], a: int, b: int, deposit: int) -> bytes:
    """A channel funded by ``a``, open on both sides and in everybody's graph."""
    pa, pb = parties[a], parties[b]
    cid = sha256(b"%d-%d-%d" % (a, b, deposit))
    pa.channels.adopt_channel(cid, pa.public_key, pb.public_key, deposit, pb.address)
    pb.channels.adopt_channel(cid, pa.public_key, pb.public_key, deposit, pa.address)
    for p in parties:
        p.channels.graph.add(cid, pa.account, pb.account, deposit)
    return cid


def latest(p: Party, cid: bytes) -> tuple[int, int, int]:
    st = p.channels.channels[cid].latest
    return st.seq, st.balance_a, st.balance_b


def drop_first(kind: type[Frozen]) -> Filter:
    seen: list[int] = []

    def f(src: Party, dst: Address, msg: Frozen) -> Frozen | None:
        if isinstance(msg, kind) and not seen:
            seen.append(1)
            return None
        return msg

    return f


# ====================================================================================================================
def test_a_lost_ack_is_recovered_by_resending_the_same_proposal() -> None:
    net = Net()
    a, b = Party(net, 0), Party(net, 1)
    cid = connect([a, b], 0, 1, 1000)
    net.filter = drop_first(ChannelUpdateAck)
    assert a.channels.pay_channel(cid, 100)
    net.run(0.5)
    assert latest(b, cid) == (1, 900, 100) and latest(a, cid) == (0, 1000, 0)  # b signed, a does not know yet
    net.run(3.0)
    assert latest(a, cid) == latest(b, cid) == (1, 900, 100)  # paid once, not twice
    assert a.channels.channels[cid].pending is None and a.channels.channels[cid].available == 900


def test_a_forged_countersignature_is_not_kept() -> None:
    net = Net()
    a, b = Party(net, 0), Party(net, 1)
    cid = connect([a, b], 0, 1, 1000)
    forged: list[int] = []

    def forge(src: Party, dst: Address, msg: Frozen) -> Frozen | None:
        if isinstance(msg, ChannelUpdateAck) and not forged:
            forged.append(1)
            return ChannelUpdateAck(replace_sig(msg.state, sig_b=bytes(64)))
        return msg

    net.filter = forge
    a.channels.pay_channel(cid, 100)
    net.run(0.5)
    assert a.drops["bad_channel_signature"] == 1 and latest(a, cid) == (0, 1000, 0)
    net.run(3.0)
    assert latest(a, cid) == (1, 900, 100)


def replace_sig(st: ChannelState, **sigs: bytes) -> ChannelState:
    f = {"sig_a": st.sig_a, "sig_b": st.sig_b, **sigs}
    return ChannelState(st.channel_id, st.seq, st.balance_a, st.balance_b, f["sig_a"], f["sig_b"])


def test_a_veto_refuses_to_countersign() -> None:
    net = Net()
    a, b = Party(net, 0), Party(net, 1, hooks=Veto())
    cid = connect([a, b], 0, 1, 1000)
    a.channels.pay_channel(cid, 100)
    net.run(2.0)
    assert latest(a, cid) == latest(b, cid) == (0, 1000, 0)
    assert {e["reason"] for e in net.of("channel_refused")} == {"veto:not today"}
    assert a.channels.channels[cid].available == 900  # still promised: the proposal is resent, never replaced


def test_a_proposal_that_costs_the_countersigner_is_refused() -> None:
    net = Net()
    a, b = Party(net, 0), Party(net, 1)
    cid = connect([a, b], 0, 1, 1000)
    a.channels.pay_channel(cid, 100)
    net.run(1.0)
    ch = a.channels.channels[cid]
    greedy = a.channels._sign(ch, 2, 950, 50)  # a takes 50 back
    b.channels.on_update(a.public_key, a.address, ChannelUpdate(greedy, bytes(32), 0))
    bad_total = a.channels._sign(ch, 2, 900, 200)  # mints 100
    b.channels.on_update(a.public_key, a.address, ChannelUpdate(bad_total, bytes(32), 0))
    assert [e["reason"] for e in net.of("channel_refused")] == ["not_a_payment", "bad_total"]
    assert latest(b, cid) == (1, 900, 100)


def test_bad_and_repeated_preimages_settle_once() -> None:
    net = Net()
    ps = [Party(net, i) for i in range(3)]
    ab, bc = connect(ps, 0, 1, 1000), connect(ps, 1, 2, 1000)
    sent: list[HtlcFulfill] = []

    def tamper(src: Party, dst: Address, msg: Frozen) -> Frozen | None:
        if isinstance(msg, HtlcFulfill) and src is ps[2] and not sent:
            sent.append(msg)
            return HtlcFulfill(msg.channel_id, msg.payment_hash, bytes(32))  # a wrong preimage first
        return msg

    net.filter = tamper
    h = ps[2].channels.create_invoice(50)
    pay = ps[0].channels.pay(ps[2].account, 50, h)
    net.run(3.0)
    for _ in range(3):  # the right preimage again and again
        ps[1].channels.on_fulfill(ps[2].public_key, ps[2].address, sent[0])
    net.run(5.0)
    assert pay.status == "succeeded" and pay.fee == 1
    assert latest(ps[2], bc) == (1, 950, 50) and latest(ps[0], ab) == (1, 949, 51)
    assert ps[1].channels.stats.fees_earned == 1


def test_the_payee_will_not_reveal_too_close_to_expiry() -> None:
    net = Net()
    a, b = Party(net, 0, htlc_final_delta=0.3), Party(net, 1)
    cid = connect([a, b], 0, 1, 1000)
    pay = a.channels.pay(b.account, 10, b.channels.create_invoice(10))
    net.run(2.0)
    assert pay.status == "failed" and pay.reason == "expiry_too_soon"
    assert latest(a, cid) == (0, 1000, 0) and a.channels.channels[cid].available == 1000


def test_a_lost_fulfill_is_resent_until_paid() -> None:
    net = Net()
    a, b = Party(net, 0), Party(net, 1)
    cid = connect([a, b], 0, 1, 1000)
    net.filter = drop_first(HtlcFulfill)
    pay = a.channels.pay(b.account, 10, b.channels.create_invoice(10))
    net.run(2.5)
    assert pay.status == "succeeded" and latest(b, cid) == (1, 990, 10)
    assert not b.channels.channels[cid].htlc_in


def test_an_offline_hop_times_out_and_the_payer_routes_around_it() -> None:
    """0 pays 3 via 1 or 2; whichever it tries first swallows the offer (offline); the retry uses the other."""
    net = Net()
    ps = [Party(net, i) for i in range(4)]
    for u, v in ((0, 1), (0, 2), (1, 3), (2, 3)):
        connect(ps, u, v, 1000)
    dead: list[bytes] = []

    def offline(src: Party, dst: Address, msg: Frozen) -> Frozen | None:
        target = net.parties[dst]
        if not dead and src is ps[0] and target in (ps[1], ps[2]):
            dead.append(target.account)
        return None if dead and target.account == dead[0] else msg

    net.filter = offline
    pay = ps[0].channels.pay(ps[3].account, 20, ps[3].channels.create_invoice(20))
    net.run(20.0)
    assert pay.status == "succeeded" and pay.attempts == 2 and dead[0] not in pay.route
    assert all(ch.reserved == 0 for ch in ps[0].channels.channels.values())


def test_closing_with_an_idle_peer_and_refusing_updates_afterwards() -> None:
    net = Net()
    a, b = Party(net, 0), Party(net, 1)
    cid = connect([a, b], 0, 1, 1000)
    a.channels.pay_channel(cid, 100)
    net.run(1.0)
    assert a.channels.close(cid)
    net.run(1.5)
    # the close state is countersigned and a submitted TX_CHANNEL_CLOSE with it (recorded as an intent)
    assert latest(a, cid) == latest(b, cid) == (2, 900, 100)
    (tx,) = a.submitted
    assert tx.kind == TX_CHANNEL_CLOSE and ChannelState.from_bytes(tx.data).to_bytes() == \
        a.channels.channels[cid].latest.to_bytes()
    assert [e["purpose"] for e in net.of("intent")] == ["channel_close"]
    assert b.channels.channels[cid].status == "closing"
    assert not a.channels.pay_channel(cid, 10)
