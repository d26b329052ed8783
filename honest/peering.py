"""Peering as in the workshop: announce, ask for peers, peers, ping, pong; a peer limit with random eviction and
removal of silent peers. These rules are the surface eclipse and Sybil attacks target, so every decision
(admission, eviction, which peers to use) passes a hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .codes import Role
from .messages import Address, PeerInfo
from .schema import Announce, AskForPeers, PeerEntry, Peers, Ping, Pong, account_of

if TYPE_CHECKING:
    from .node import HonestNode

#: The ``Announce.role`` byte of each role name (plain ints: what goes on the wire).
ROLE_CODE: dict[str, int] = {r.label: int(r) for r in Role}
#: A role byte that names no role is read as this one (a claim to be a light node costs nothing).
UNKNOWN_ROLE_AS = int(Role.LIGHT)
PEERS_SHARED = 32  # most entries a node puts in its ``Peers`` answer
PEERS_READ = 64  # most entries a node reads from a ``Peers`` answer
KNOWN_LIMIT = 1024  # most learnt addresses kept between two maintenance rounds


class PeerTable:
    def __init__(self, node: HonestNode, limit: int, timeout: float) -> None:
        self.node = node
        self.limit = limit
        self.timeout = timeout
        self.peers: dict[bytes, PeerInfo] = {}
        self.known: dict[Address, int] = {}  # addresses learnt from peer exchange -> role
        self.evictions = 0
        self.refused = 0
        self.removed_silent = 0
        self._ping_nonce = 0
        self._initiated: dict[Address, float] = {}  # where we sent an unsolicited Announce, and when

    def __len__(self) -> int:
        return len(self.peers)

    def by_role(self, role: int) -> list[PeerInfo]:
        return [p for p in self.peers.values() if p.role == role]

    def ordered(self) -> list[PeerInfo]:
        """Peers in a stable order (by key), so that iteration never depends on hash seeds."""
        return [self.peers[k] for k in sorted(self.peers)]

    def seen(self, key: bytes) -> None:
        p = self.peers.get(key)
        if p is not None:
            p.last_seen = self.node.env.now()

    def add(self, key: bytes, address: Address, role: int) -> bool:
        """Admit a peer (or refresh it); evict one at random when over the limit. Returns True if present after."""
        node = self.node
        if key == node.public_key:
            return False
        now = node.env.now()
        existing = self.peers.get(key)
        if existing is not None:
            existing.address = address
            existing.last_seen = now
            return True
        info = PeerInfo(key, address, role, now, now)
        if node.env.has_hook("arena_admit_peer"):
            vetoes = node.env.hooks.admit_peer(peer=info, peers=self.ordered())
            if vetoes:
                self.refused += 1
                node.count_drop("peer_refused")
                return False
        self.peers[key] = info
        if not self.protected(key) and self.counted() > self.limit:
            victim = None
            candidates = [p for p in self.ordered() if p.public_key != key and not self.protected(p.public_key)]
            if node.env.has_hook("arena_choose_eviction"):
                victim = node.env.hooks.choose_eviction(peers=candidates, newcomer=info)
            if victim is None or victim.public_key not in self.peers:
                victim = node.env.rng.choice(candidates)
            del self.peers[victim.public_key]
            self.evictions += 1
            node.env.record("evict", node=node.env.index, peer=victim.public_key[-8:].hex())
            if victim.public_key == key:
                return False
        return True

    def protected(self, key: bytes) -> bool:
        """A validator keeps its links to the genesis validator set outside the limit and out of eviction: the
        committee must stay connected however many light nodes (or Sybils) knock. Light nodes have no such
        protection: that is the eclipse surface."""
        node = self.node
        return node.env.role == "validator" and account_of(key) in node.validator_accounts

    def counted(self) -> int:
        """Peers that count against ``limit``."""
        return sum(1 for k in self.peers if not self.protected(k))

    def remove_silent(self) -> None:
        now = self.node.env.now()
        for p in self.ordered():
            if now - p.last_seen > self.timeout:
                del self.peers[p.public_key]
                self.removed_silent += 1

    # -- message flows -------------------------------------------------------------------------------------------
    def announce_to(self, address: Address) -> None:
        node = self.node
        self._initiated[(address[0], address[1])] = node.env.now()
        node.send_to(address, None, Announce(ROLE_CODE[node.env.role], node.address))
        node.send_to(address, None, AskForPeers(0))

    def on_announce(self, key: bytes, src: Address, msg: Announce) -> None:
        # The announced address must be where the packet came from: no registering somebody else's address.
        if (msg.address[0], msg.address[1]) != (src[0], src[1]):
            self.node.count_drop("address_mismatch")
            return
        role = msg.role if msg.role in ROLE_CODE.values() else UNKNOWN_ROLE_AS
        # Answer every Announce that is not itself the answer to ours, even from a peer we already have: a peer
        # that restarted (or dropped us) announces itself again and only learns about us from the answer.
        # The side that announced first does not answer the answer, so an exchange is two packets and cannot loop.
        sent = self._initiated.pop((src[0], src[1]), None)
        answer = sent is None or self.node.env.now() - sent > self.timeout
        if self.add(key, src, role) and answer:
            self.node.send_to(src, key, Announce(ROLE_CODE[self.node.env.role], self.node.address))

    def on_ask(self, key: bytes, src: Address, msg: AskForPeers) -> None:
        entries = [PeerEntry(p.public_key, p.address, p.role) for p in self.ordered()
                   if p.public_key != key][:PEERS_SHARED]
        self.node.send_to(src, key, Peers(msg.request_id, entries))

    def on_peers(self, key: bytes, src: Address, msg: Peers) -> None:
        if key not in self.peers:
            return
        for e in msg.peers[:PEERS_READ]:
            addr = (str(e.address[0]), int(e.address[1]))
            if e.public_key != self.node.public_key and e.public_key not in self.peers \
                    and len(self.known) < KNOWN_LIMIT:
                self.known[addr] = e.role

    def maintain(self) -> None:
        """Periodic: drop silent peers, ping the rest, and grow towards the limit from learnt addresses."""
        self.remove_silent()
        node = self.node
        cutoff = node.env.now() - self.timeout
        self._initiated = {a: t for a, t in self._initiated.items() if t >= cutoff}
        self._ping_nonce = (self._ping_nonce + 1) & 0xFFFFFFFF
        # Only peers we have not heard from lately need a ping: any message already proves liveness.
        quiet = node.env.now() - node.config.ping_interval
        peers = [p for p in self.ordered() if p.last_seen <= quiet]
        if peers:
            node.broadcast(peers, Ping(self._ping_nonce))  # one signature for all (the same bytes to every peer)
        if self.counted() < self.limit and self.known:
            mine = {p.address for p in self.peers.values()}
            fresh = sorted(a for a in self.known if a not in mine and a != node.address)
            for addr in node.env.rng.sample(fresh, min(len(fresh), self.limit - self.counted())):
                self.announce_to(addr)
            self.known.clear()

    def exchange(self) -> None:
        """Periodic: ask one random peer for its peers."""
        peers = self.ordered()
        if peers:
            p = self.node.env.rng.choice(peers)
            self.node.send_to(p.address, p.public_key, AskForPeers(0))

    def on_ping(self, key: bytes, src: Address, msg: Ping) -> None:
        self.node.send_to(src, key, Pong(msg.nonce))

    def on_pong(self, key: bytes, src: Address, msg: Pong) -> None:
        self.seen(key)
