"""A red plugin that probes the message boundary a team's protocol sits behind, with packets nobody could parse.

Public API only. It learns its community's 22-byte prefix from one of its own node's packets (the outgoing packet
hook sees them), then sends every validator, each round: the prefix alone (truncated), an id no schema message
has (unknown), one of its own packets with the signature broken (bad signature), and a SubmitTx whose payload is
garbage, signed by a Sybil's key so that only strict decoding can refuse it (malformed). The referee must see
none of it as anything but counted drops: no such packet may reach the implementation.
"""

from __future__ import annotations

from arena import NodeContext, Packet, Params, Plugin, hookimpl
from honest.schema import SubmitTx, sign

UNKNOWN_ID = 200  # no schema message has it, and it is below py-ipv8's own 231-255


class ProberParams(Params):
    start: float = 3.0
    rounds: int = 3
    interval: float = 2.0


class BoundaryProber(Plugin):
    name = "boundary_prober"
    team = "red"
    Params = ProberParams

    def __init__(self, node: NodeContext, params: ProberParams) -> None:
        super().__init__(node, params)
        self.params: ProberParams = params
        self.sample: bytes | None = None
        self.done = 0
        self.next_at = params.start

    @hookimpl
    def arena_outgoing_packet(self, node: NodeContext, packet: Packet) -> None:
        if self.sample is None and len(packet.data) > 100 and packet.data[22] < 231:
            self.sample = packet.data

    @hookimpl
    def arena_tick(self, node: NodeContext, now: float) -> None:
        adv = node.adversary
        if adv is None or self.sample is None or self.done >= self.params.rounds or now < self.next_at:
            return
        self.done += 1
        self.next_at = now + self.params.interval
        prefix = self.sample[:22]
        sybil = adv.identities[0] if adv.identities else adv.create_identity()
        pk = sybil.public_key
        garbage = prefix + bytes([SubmitTx.msg_id]) + len(pk).to_bytes(2, "big") + pk + b"\x00\x07garbage"
        probes = {
            "truncated": prefix,
            "unknown_message": prefix + bytes([UNKNOWN_ID]) + b"\x00" * 40,
            "bad_signature": self.sample[:-1] + bytes([self.sample[-1] ^ 0xFF]),
            "malformed": garbage + sign(sybil.key, garbage),
        }
        validators = adv.validators()
        for v in validators:
            for data in probes.values():
                adv.send_raw(v.address, data)
        node.evidence("probe", f"round {self.done}: {len(probes)} unparseable packets to {len(validators)} "
                      "validators", kinds=sorted(probes), validators=len(validators))
