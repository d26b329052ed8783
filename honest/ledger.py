"""What a node keeps across a restart: its blocks (in arrival order), the finalised point and the agreed account table.

``MemoryStore`` serves the simulator (a "crashed" node that is handed the same store object again recovers its
data); ``SqliteStore`` serves live nodes, committing on every save so that a kill loses at most the save in flight.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol

from .schema import Block

Snapshot = dict[str, dict[str, int]]
_FIELDS = ("balance", "nonce", "stake")


class LedgerStore(Protocol):
    def save_block(self, block: Block) -> None: ...

    def load_blocks(self) -> list[Block]: ...

    def save_finalized(self, block_hash: bytes, height: int) -> None: ...

    def load_finalized(self) -> tuple[bytes, int] | None: ...

    def save_state(self, snapshot: Snapshot) -> None: ...

    def load_state(self) -> Snapshot: ...

    def close(self) -> None: ...


def _copy(snapshot: Snapshot) -> Snapshot:
    return {acct: {f: int(row.get(f, 0)) for f in _FIELDS} for acct, row in sorted(snapshot.items())}


class MemoryStore:
    """In-memory store; blocks are kept as bytes so a restarted node decodes fresh objects, as from disk."""

    def __init__(self) -> None:
        self._blocks: dict[bytes, bytes] = {}  # insertion-ordered
        self._finalized: tuple[bytes, int] | None = None
        self._state: Snapshot = {}
        self.closed = False

    def save_block(self, block: Block) -> None:
        self._blocks.setdefault(block.block_hash, block.to_bytes())

    def load_blocks(self) -> list[Block]:
        return [Block.from_bytes(data) for data in self._blocks.values()]

    def save_finalized(self, block_hash: bytes, height: int) -> None:
        self._finalized = (bytes(block_hash), int(height))

    def load_finalized(self) -> tuple[bytes, int] | None:
        return self._finalized

    def save_state(self, snapshot: Snapshot) -> None:
        self._state = _copy(snapshot)

    def load_state(self) -> Snapshot:
        return _copy(self._state)

    def close(self) -> None:
        """Nothing to release; the object stays usable so the simulator can "restart" a node on it."""
        self.closed = True


class SqliteStore:
    """SQLite file store (WAL journal: readers do not block the writer; a commit per save)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(str(self.path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS blocks (hash BLOB PRIMARY KEY, height INTEGER NOT NULL, data BLOB NOT NULL,
                                               seq INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
            CREATE TABLE IF NOT EXISTS accounts (account TEXT PRIMARY KEY, balance INTEGER NOT NULL,
                                                 nonce INTEGER NOT NULL, stake INTEGER NOT NULL);
            """
        )
        self._db.commit()
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM blocks").fetchone()
        self._seq = int(row[0])

    def save_block(self, block: Block) -> None:
        with self._db:
            cur = self._db.execute("INSERT OR IGNORE INTO blocks (hash, height, data, seq) VALUES (?, ?, ?, ?)",
                                   (block.block_hash, block.header.height, block.to_bytes(), self._seq + 1))
            if cur.rowcount:
                self._seq += 1

    def load_blocks(self) -> list[Block]:
        return [Block.from_bytes(bytes(data)) for (data,) in self._db.execute("SELECT data FROM blocks ORDER BY seq")]

    def save_finalized(self, block_hash: bytes, height: int) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                 [("finalized_hash", bytes(block_hash)), ("finalized_height", int(height))])

    def load_finalized(self) -> tuple[bytes, int] | None:
        rows = dict(self._db.execute("SELECT key, value FROM meta WHERE key IN ('finalized_hash', 'finalized_height')"))
        if "finalized_hash" not in rows or "finalized_height" not in rows:
            return None
        return bytes(rows["finalized_hash"]), int(rows["finalized_height"])

    def save_state(self, snapshot: Snapshot) -> None:
        """Replace the whole account table in one transaction."""
        rows = [(acct, *(int(row.get(f, 0)) for f in _FIELDS)) for acct, row in sorted(snapshot.items())]
        with self._db:
            self._db.execute("DELETE FROM accounts")
            self._db.executemany("INSERT INTO accounts (account, balance, nonce, stake) VALUES (?, ?, ?, ?)", rows)

    def load_state(self) -> Snapshot:
        return {acct: {"balance": b, "nonce": n, "stake": s}
                for acct, b, n, s in self._db.execute("SELECT account, balance, nonce, stake FROM accounts "
                                                      "ORDER BY account")}

    def close(self) -> None:
        self._db.close()
