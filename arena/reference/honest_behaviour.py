"""``docs/reference/honest_behaviour.md``: what the honest node does that a red team builds on.

The merchant's default delivery rule, what each node answers to each message and whose messages it believes, and
what it sends unasked. Every number is imported from the honest code or read from the scenario model's defaults, and
every row names the handler it describes, so renaming a handler or changing a constant changes (or breaks) the page.
The rule itself is :func:`default_delivers`; ``tests/test_reference.py`` holds ``honest/node/purchases.py`` to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arena.reference.markdown import code, header, table
from arena.reference.scenario import number
from arena.scenario import model
from honest import schema
from honest.channels import ChannelManager
from honest.channels.block_fetch import BLOCK_RETRY, BLOCK_TRIES
from honest.codes import Role, TxStatus
from honest.config import NodeConfig
from honest.node import HonestNode
from honest.node.light import HEADER_SLOT_SLACK, HEADERS_KEPT, RESUBMIT_AFTER
from honest.node.purchases import MAX_STATUS_QUERIES, ORDER_TIMEOUT
from honest.node.sync import REQUEST_TIMEOUT
from honest.peering import KNOWN_LIMIT, PEERS_READ, PEERS_SHARED, UNKNOWN_ROLE_AS, PeerTable

PATH = "honest_behaviour.md"
DELIVERS_ON_ZERO = (TxStatus.PENDING, TxStatus.INCLUDED, TxStatus.FINALIZED)


def default_delivers(status: TxStatus, confirmations: int, need: int) -> bool:
    """The merchant's default rule for one ``TxStatusReply`` (``need`` = ``light.confirmations``)."""
    if need == 0:
        return status in DELIVERS_ON_ZERO
    return status == TxStatus.FINALIZED or (status == TxStatus.INCLUDED and confirmations >= need)


def scenario_default(dotted: str) -> Any:
    """The default of a scenario key (``light.confirmations``), read from the model."""
    section, _, key = dotted.partition(".")
    value = model.Scenario.model_fields[section].get_default(call_default_factory=True)
    return getattr(value, key)


def key(dotted: str, unit: str = "") -> str:
    """``light.confirmations`` (default 1): a scenario key with its default."""
    return f"{code(dotted)} (default {number(scenario_default(dotted))}{unit})"


def fixed(name: str, unit: str = " s") -> str:
    """A ``NodeConfig`` setting no scenario key sets, with its value."""
    return f"{number(getattr(NodeConfig(), name))}{unit} (`NodeConfig.{name}`, not a scenario key)"


@dataclass(frozen=True)
class Answer:
    """One message: which nodes act on it, what they do, and whose copy counts or who gets the answer."""

    message: type[schema.Frozen]
    handler: Callable[..., Any]
    who: str
    does: str
    whom: str


def _where(fn: Callable[..., Any]) -> str:
    return code(f"{fn.__module__}.{fn.__qualname__}")


ANYONE = "anyone: the answer goes to the packet's source address, peer or not"
PEER_ONLY = "counted only from a node in the receiver's peer table"
COUNTERPARTY = "only from the channel's counterparty (the key it was opened with); anything else is dropped or ignored"

ANSWERS: tuple[Answer, ...] = (
    Answer(schema.Announce, PeerTable.on_announce, "every node",
           "admits the sender to its peer table (the `arena_admit_peer` hook may refuse; over "
           f"{code('peering.peer_limit')} a random unprotected peer is evicted, or the one `arena_choose_eviction` "
           "picks) and answers with its own `Announce`, unless this one answers an `Announce` it sent within "
           f"{code('peering.peer_timeout')}. A role byte that names no role counts as "
           f"{code('Role.' + Role(UNKNOWN_ROLE_AS).name)}.",
           "anyone whose announced address is the packet's source (else dropped: `address_mismatch`)"),
    Answer(schema.AskForPeers, PeerTable.on_ask, "every node",
           f"answers `Peers` with up to {PEERS_SHARED} of its peers, in key order, the asker left out", ANYONE),
    Answer(schema.Peers, PeerTable.on_peers, "every node",
           f"reads up to {PEERS_READ} entries and remembers up to {KNOWN_LIMIT} new addresses; at its next "
           "maintenance, if below the peer limit, it announces itself to a random sample of them",
           PEER_ONLY),
    Answer(schema.Ping, PeerTable.on_ping, "every node", "answers `Pong` with the same nonce", ANYONE),
    Answer(schema.Pong, PeerTable.on_pong, "every node",
           "marks the peer alive (so does any authenticated message from a peer)", "any peer"),
    Answer(schema.Gossip, HonestNode.on_gossip, "validators",
           "checks each new item (transaction, block, vote) and forwards the valid ones to "
           f"{code('gossip.fanout')} validator peers; items seen within {code('gossip.message_timeout')} are "
           "suppressed",
           "a node in the peer table or a genesis validator (else dropped: `not_a_peer`)"),
    Answer(schema.SubmitTx, HonestNode.on_submit_tx, "validators (others drop it)",
           "checks the transaction; a refused one gets a `TxAck` with the reason, an accepted one no answer (it is "
           "gossiped to the other validators)", ANYONE),
    Answer(schema.TxAck, HonestNode.on_tx_ack, "any node (light nodes and merchants get them)",
           "records the refusal (`tx_refused`); nothing else changes", "anyone"),
    Answer(schema.BalanceQuery, HonestNode.on_balance_query, "validators",
           "answers `BalanceReply` with the balance and last nonce in the state at its head", ANYONE),
    Answer(schema.BalanceReply, HonestNode.on_balance_reply, "light nodes and merchants",
           "counts the answer for an open query about that account; the query is settled by the first "
           f"(balance, nonce) that more than {code('light.majority')} of the validators asked agree on",
           f"{PEER_ONLY} (any peer, not only the ones asked)"),
    Answer(schema.TxStatusQuery, HonestNode.on_tx_status_query, "validators",
           "answers `TxStatusReply` with what it knows: a `TxStatus`, the including block's height and the "
           "confirmations on its head chain", ANYONE),
    Answer(schema.TxStatusReply, HonestNode.on_tx_status_reply, "merchants",
           "applies the delivery rule (above) to this one answer",
           "only the answer to a query this merchant sent, to that key, about that transaction (else dropped: "
           "`unsolicited`); each query is answered once"),
    Answer(schema.BlockRequest, HonestNode.on_block_request, "a node holding the block (validators)",
           "answers `BlockResponse` with the block; says nothing if it lacks it", ANYONE),
    Answer(schema.BlockResponse, HonestNode.on_block_response, "validators; light nodes with channels",
           "validators add a block they asked for (not gossiped on); a light node's channel watcher checks "
           f"signature and `tx_root`, asks again after {number(BLOCK_RETRY)} s, up to {BLOCK_TRIES} times",
           "only a block the node asked for (else dropped: `unrequested`), from anyone"),
    Answer(schema.HeaderAnnounce, HonestNode.on_header, "light nodes and merchants (validators send them)",
           "keeps the header if a genesis validator signed it, its slot is at most "
           f"{HEADER_SLOT_SLACK} ahead of the node's clock and its height at most its slot; remembers the last "
           f"{HEADERS_KEPT}", "anyone"),
    Answer(schema.ChainStatus, HonestNode.on_chain_status, "validators",
           "if the sender is ahead with a head it lacks, asks that sender for it (`BlockRequest`), or for the "
           f"missing parent of an orphan; a bounded number of requests, repeated after {number(REQUEST_TIMEOUT)} s",
           "anyone"),
    Answer(schema.ChannelPropose, ChannelManager.on_propose, "every node",
           "accepts a single-funded channel (`deposit_a` above 0, `deposit_b` 0) and answers `ChannelAccept`",
           "anyone but itself"),
    Answer(schema.ChannelAccept, ChannelManager.on_accept, "the funder",
           "publishes the channel open on chain", COUNTERPARTY),
    Answer(schema.ChannelUpdate, ChannelManager.on_update, "channel parties",
           "countersigns the next state (`ChannelUpdateAck`) if it follows the latest by one, keeps its HTLC "
           "reservations, and the `arena_channel_sign_update` hook does not veto", COUNTERPARTY),
    Answer(schema.ChannelUpdateAck, ChannelManager.on_update_ack, "channel parties",
           "takes the both-signed state as the channel's latest", COUNTERPARTY),
    Answer(schema.HtlcOffer, ChannelManager.on_offer, "channel parties",
           "as payee: reveals the preimage (`HtlcFulfill`) for a known invoice, enough amount and time; as relay: "
           "offers the next hop on its best channel, keeping its fee; else answers `HtlcFail`", COUNTERPARTY),
    Answer(schema.HtlcFulfill, ChannelManager.on_fulfill, "channel parties",
           "pays the HTLC by a channel update and passes the preimage upstream", COUNTERPARTY),
    Answer(schema.HtlcFail, ChannelManager.on_fail, "channel parties",
           "releases the reservation; upstream fails too, a payer tries another route", COUNTERPARTY),
    Answer(schema.CloseRequest, ChannelManager.on_close_request, "channel parties",
           "countersigns a close of an idle channel at its latest balances; the requester publishes it",
           COUNTERPARTY),
    Answer(schema.Purchase, HonestNode.on_purchase, "merchants",
           "opens an order (see the delivery rule above)", "the buyer: the key that signed the packet must be "
           "the payment's sender"),
    Answer(schema.Delivery, HonestNode.on_delivery, "buyers",
           "counts the goods received", "only the merchant an open order was placed with, once, for no more "
           "than was paid"),
)
"""One row per message, in message-id order (the test holds it to every message of the schema)."""


@dataclass(frozen=True)
class Task:
    """Something a node sends unasked, periodically."""

    what: str
    who: str
    every: str
    sends: str


def tasks() -> tuple[Task, ...]:
    """The periodic tasks of ``HonestNode.start``, with their periods."""
    return (
        Task("peer maintenance", "every node", key("peering.ping_interval", " s"),
             "`Ping` to peers not heard from for that long; drops peers silent for "
             f"{code('peering.peer_timeout')}; `Announce` to learnt addresses while below the peer limit"),
        Task("peer exchange", "every node", key("peering.ask_interval", " s"), "`AskForPeers` to one random peer"),
        Task("slots", "validators (pos)", key("consensus.slot", " s"),
             "the slot's leader proposes a block (gossiped), `HeaderAnnounce` to light and merchant peers when the "
             "head changes; staked validators vote for each new head, once per height"),
        Task("chain status", "validators (pos)", fixed("status_interval"),
             f"`ChainStatus` to {code('gossip.fanout')} random validator peers"),
        Task("payments", "merchants", fixed("query_interval"),
             f"`TxStatusQuery` about every open order to {code('light.query_validators')} validators"),
        Task("resubmit", "light nodes and merchants", f"{number(RESUBMIT_AFTER)} s",
             "`SubmitTx` again for its own transactions whose nonce the agreed ledger has not used, and a "
             "`BalanceQuery` to learn it"),
    )


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _policy() -> list[str]:
    rows = [(code(s.label), _yes(default_delivers(s, 0, 0)), _yes(default_delivers(s, 2, 2)),
             _yes(default_delivers(s, 1, 2))) for s in TxStatus]
    return [
        "## The merchant's default delivery rule", "",
        "What a double spend or a fake validator has to beat. In order:", "",
        "1. A `Purchase` opens an order if its transaction pays the merchant at least its price "
        f"({code('merchants[].price')}, default {number(model.MerchantModel.model_fields['price'].default)}), "
        "is validly signed by the key that signed the packet, and pays no other order (else it is dropped: "
        "`bad_purchase`, `duplicate_payment`). The merchant does not hand the payment to a validator itself: "
        "validators learn of it only if the buyer (or somebody) submits it.",
        f"2. At once, and again every {fixed('query_interval')} for every open order, the merchant sends a "
        f"`TxStatusQuery` to {key('light.query_validators')} validators drawn at random from its peers that "
        "*claim* the validator role (a defense's `arena_select_peers` may choose them instead). Query ids are "
        f"random 32-bit numbers; at most {number(MAX_STATUS_QUERIES)} are outstanding (the oldest are forgotten).",
        "3. Every `TxStatusReply` that answers one of those queries is judged **on its own**: no majority, no "
        "stake weighting, no second opinion. Unless an `arena_payment_confirmed` hook decides (True or False), "
        f"the merchant delivers when the answer says, with {key('light.confirmations')} as *need*:",
        "   - need 0: the status is `pending`, `included` or `finalized`;",
        "   - need k >= 1: `finalized`, or `included` with at least k confirmations (the including block counts: "
        "1 = in the validator's head block).",
        "4. Delivering records a `delivery` event (what the referee counts as goods handed over) and sends "
        "`Delivery` to the buyer's address. The order is then closed; later answers change nothing.",
        f"5. An order not delivered within {number(ORDER_TIMEOUT)} s of the `Purchase` expires: no more queries.",
        "",
        "Whether one answer delivers, by the status it reports:", "",
        *table(("status in the answer", "need 0", "need k >= 1, answer has >= k confirmations",
                "need k >= 1, answer has fewer"), rows),
    ]


def render() -> str:
    """The page."""
    lines = header(
        "Honest node behaviour", "honest/node/, honest/peering.py, honest/channels/",
        "What the reference node does that an attack relies on: whom a merchant believes and when it delivers, "
        "what every node answers to each message and whose messages it counts, and what it sends unasked. Message "
        "layouts are in [wire.md](wire.md), the numeric codes in [codes.md](codes.md), scenario keys in "
        "[scenario.md](scenario.md). Every behaviour below passes the hooks of `docs/plugins.md`, so a defense may "
        "change it.")
    lines += [
        "## Roles are claims", "",
        "A node's role is what it says in its `Announce` (a `Role` code); nobody checks it. Light nodes and "
        "merchants ask whichever peers claim `Role.VALIDATOR`. Only two checks look at real stake: a "
        "`HeaderAnnounce` counts only if a genesis validator signed it, and a validator keeps its links to the "
        "genesis validators outside its peer limit and never evicts them. Light nodes and merchants have no such "
        "protection: a crowd of announced identities can fill their peer tables (the eclipse and Sybil surface).",
        "",
    ]
    lines += _policy()
    lines += [
        "## What each node answers, and to whom", "",
        "Every answer goes back to the address the packet came from and the key that signed it. There are no "
        "rate limits: a node bounds how much it *keeps* (peer tables, outstanding queries, orphans, headers), "
        "never how often it answers. Messages a role does not handle are ignored (some are counted as drops).", "",
    ]
    lines += table(("message", "handled by", "what the node does", "whose messages count / who gets the answer",
                    "code"),
                   [(code(a.message.__name__), a.who, a.does, a.whom, _where(a.handler)) for a in ANSWERS])
    lines += ["## What nodes send unasked", ""]
    lines += table(("task", "who", "every", "sends"), [(t.what, t.who, t.every, t.sends) for t in tasks()])
    return "\n".join(lines)


__all__ = ["ANSWERS", "PATH", "Answer", "Task", "default_delivers", "render", "scenario_default", "tasks"]
