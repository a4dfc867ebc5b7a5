"""Class mode's store: classes with short join codes, one vote per voter per question, in SQLite; a class ends
after a day, or after IDLE_SECONDS without activity. No accounts: a class is its code (random, unguessable) and
its teacher's token (only a hash is stored); voters are counted per network so fake sessions cannot fill a class.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from gru_viz.data import cache_dir
from gru_viz.serve.class_terms import (
    ALPHABET,
    CODE_LENGTH,
    QUESTIONS,
    ClassError,
    ClassState,
    Tally,
    clean_text,
)

TTL_SECONDS = 24 * 3600
# A class nobody used for this long ends (a teacher's open page keeps it alive: its tallies poll every 2 s), so
# classes started by a flood age out in minutes instead of holding the store for a day.
IDLE_SECONDS = 15 * 60
TOUCH_EVERY = 30.0  # seconds between two writes of a class's last activity (reads poll far more often)
MAX_CLASSES = 500  # live classes on one server; at the cap the longest-idle class without votes makes room
MAX_VOTERS = 300  # browsers voting in one class
# Browsers voting in one class from one network (an IPv4 address, an IPv6 /64): a classroom behind one NAT is
# about thirty; a flood of made-up sessions from one place stops here and cannot lock the other students out.
VOTERS_PER_NETWORK = 60
STORE_FILE = "classes.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS classes (code TEXT PRIMARY KEY, token_hash TEXT NOT NULL, created REAL NOT NULL,
    active REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS classes_created ON classes(created);
CREATE TABLE IF NOT EXISTS revealed (code TEXT NOT NULL, question TEXT NOT NULL, PRIMARY KEY (code, question));
CREATE TABLE IF NOT EXISTS votes (code TEXT NOT NULL, question TEXT NOT NULL, voter TEXT NOT NULL,
    choice TEXT NOT NULL, text TEXT NOT NULL, at REAL NOT NULL, network TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (code, question, voter));
CREATE TABLE IF NOT EXISTS answers (code TEXT NOT NULL, question TEXT NOT NULL, numbers TEXT NOT NULL,
    PRIMARY KEY (code, question));
"""
MIGRATIONS = (("classes", "active", "REAL NOT NULL DEFAULT 0"), ("votes", "network", "TEXT NOT NULL DEFAULT ''"))
TABLES = ("votes", "revealed", "answers", "classes")  # a class's rows, deleted together (classes last)
MAX_ANSWER_BYTES = 8_000  # the stored numbers of one revealed question (its probe is at most 500 characters)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ClassStore:
    """The classes of one server in one SQLite file; safe from many threads and processes (a connection per
    call, WAL, writes in BEGIN IMMEDIATE). Expired classes are purged whenever the store is used."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time, ttl: float = TTL_SECONDS,
                 max_classes: int = MAX_CLASSES, max_voters: int = MAX_VOTERS, idle: float = IDLE_SECONDS,
                 voters_per_network: int = VOTERS_PER_NETWORK):
        self.path, self.clock, self.ttl, self.idle = Path(path), clock, ttl, idle
        self.max_classes, self.max_voters, self.voters_per_network = max_classes, max_voters, voters_per_network
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            for table, column, kind in MIGRATIONS:  # a store written by an older version of the app
                if column not in {r[1] for r in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement (no check-then-write race)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # expired classes go first, in a transaction of their own: a refused
            self._purge(db)  # request below rolls back only itself
            db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _purge(self, db: sqlite3.Connection) -> None:
        now = self.clock()
        old = [r[0] for r in db.execute("SELECT code FROM classes WHERE created < ? OR MAX(created, active) < ?",
                                        (now - self.ttl, now - self.idle))]
        self._delete(db, old)

    @staticmethod
    def _delete(db: sqlite3.Connection, codes: list[str]) -> None:
        for table in TABLES:
            db.executemany(f"DELETE FROM {table} WHERE code = ?", [(c,) for c in codes])  # noqa: S608 (fixed names)

    def _live(self, db: sqlite3.Connection, code: str) -> tuple[str, float]:
        now = self.clock()
        row = db.execute("SELECT token_hash, created FROM classes WHERE code = ? AND created >= ? "
                         "AND MAX(created, active) >= ?", (code, now - self.ttl, now - self.idle)).fetchone()
        if row is None:
            raise ClassError("no_class", f"no class with code {code} (classes end after a day, or when idle for "
                                         f"{self.idle / 60:g} min)")
        return row

    def touch(self, code: str) -> None:
        """Mark the class as in use now (the teacher's page calls this as it polls); at most every TOUCH_EVERY s."""
        now = self.clock()
        with self._connect() as db:
            db.execute("UPDATE classes SET active = ? WHERE code = ? AND active < ?", (now, code, now - TOUCH_EVERY))

    def _teacher(self, db: sqlite3.Connection, code: str, token: str) -> None:
        if not hmac.compare_digest(self._live(db, code)[0], _hash(token)):
            raise ClassError("not_teacher", "only the teacher who started the class can do this")

    # --- the teacher ---------------------------------------------------------------------------

    def create(self) -> tuple[str, str]:
        """A new class: (its code, the teacher's token). At the cap the longest-idle class without a vote ends to
        make room; ClassError("too_many") only when every class has votes."""
        token = secrets.token_urlsafe(24)
        with self._write() as db:
            if db.execute("SELECT COUNT(*) FROM classes").fetchone()[0] >= self.max_classes:
                empty = db.execute("SELECT code FROM classes WHERE code NOT IN (SELECT DISTINCT code FROM votes) "
                                   "ORDER BY MAX(created, active) LIMIT 1").fetchone()
                if empty is None:
                    raise ClassError("too_many", f"this server has {self.max_classes} classes already")
                self._delete(db, [empty[0]])
            while True:  # a collision is one in millions; the primary key makes it impossible to miss
                code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
                if db.execute("SELECT 1 FROM classes WHERE code = ?", (code,)).fetchone() is None:
                    break
            db.execute("INSERT INTO classes VALUES (?, ?, ?, ?)", (code, _hash(token), self.clock(), self.clock()))
        return code, token

    def reveal(self, code: str, token: str, question: str, revealed: bool = True,
               numbers: dict | None = None) -> None:
        """Show (or hide again) a question's answer to the class; votes are closed while it is shown. `numbers`,
        what the teacher's page measured (JSON-able), are stored with the answer so every page shows the same."""
        self._check_question(question)
        stored = None if numbers is None else json.dumps(numbers, ensure_ascii=False)
        if stored is not None and len(stored.encode()) > MAX_ANSWER_BYTES:
            raise ClassError("bad_question", f"the answer's numbers take more than {MAX_ANSWER_BYTES} bytes")
        with self._write() as db:
            self._teacher(db, code, token)
            if revealed:
                db.execute("INSERT OR IGNORE INTO revealed VALUES (?, ?)", (code, question))
                if stored is not None:
                    db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", (code, question, stored))
            else:
                db.execute("DELETE FROM revealed WHERE code = ? AND question = ?", (code, question))
                db.execute("DELETE FROM answers WHERE code = ? AND question = ?", (code, question))

    def answer_numbers(self, code: str, question: str) -> dict | None:
        """The numbers the teacher's page stored when it revealed `question`, or None."""
        with self._connect() as db:
            row = db.execute("SELECT numbers FROM answers WHERE code = ? AND question = ?", (code, question)).fetchone()
        return None if row is None else json.loads(row[0])

    def close(self, code: str, token: str) -> None:
        """End the class now: its code stops working and its votes are deleted."""
        with self._write() as db:
            self._teacher(db, code, token)
            for table in TABLES:
                db.execute(f"DELETE FROM {table} WHERE code = ?", (code,))  # noqa: S608 (fixed names)

    def is_teacher(self, code: str, token: str) -> bool:
        with self._connect() as db:
            try:
                self._teacher(db, code, token)
            except ClassError:
                return False
        return True

    # --- everyone ---------------------------------------------------------------------------------

    def state(self, code: str) -> ClassState | None:
        """The class's revealed questions and number of voters, or None when there is no such class (now)."""
        with self._connect() as db:
            try:
                created = self._live(db, code)[1]
            except ClassError:
                return None
            revealed = frozenset(r[0] for r in db.execute("SELECT question FROM revealed WHERE code = ?", (code,)))
            voters = db.execute("SELECT COUNT(DISTINCT voter) FROM votes WHERE code = ?", (code,)).fetchone()[0]
        return ClassState(revealed, voters, created + self.ttl)

    def vote(self, code: str, question: str, voter: str, choice: str, text: str = "", network: str = "") -> None:
        """Record (or change) this voter's answer; the written part is cut to MAX_TEXT characters. `network` is
        where the voter is (gru_viz.serve.ratelimit.client_key): at most voters_per_network new voters each."""
        if choice not in self._check_question(question):
            raise ClassError("bad_choice", f"{choice!r} is not a choice of {question}")
        text = clean_text(text)
        voter = str(voter)[:100]
        with self._write() as db:
            self._live(db, code)
            if db.execute("SELECT 1 FROM revealed WHERE code = ? AND question = ?", (code, question)).fetchone():
                raise ClassError("revealed", "the answer is shown: votes are closed")
            known = db.execute("SELECT 1 FROM votes WHERE code = ? AND voter = ? LIMIT 1", (code, voter)).fetchone()
            if known is None and db.execute("SELECT COUNT(DISTINCT voter) FROM votes WHERE code = ?",
                                            (code,)).fetchone()[0] >= self.max_voters:
                raise ClassError("full", f"this class has {self.max_voters} voters already")
            if known is None and db.execute("SELECT COUNT(DISTINCT voter) FROM votes WHERE code = ? AND network = ?",
                                            (code, network)).fetchone()[0] >= self.voters_per_network:
                raise ClassError("full_network", f"this class has {self.voters_per_network} voters from one network")
            now = self.clock()
            db.execute("INSERT OR REPLACE INTO votes VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (code, question, voter, choice, text, now, network))
            db.execute("UPDATE classes SET active = ? WHERE code = ?", (now, code))

    def my_vote(self, code: str, question: str, voter: str) -> tuple[str, str] | None:
        """This voter's (choice, text) for the question, if they voted."""
        with self._connect() as db:
            row = db.execute("SELECT choice, text FROM votes WHERE code = ? AND question = ? AND voter = ?",
                             (code, question, str(voter)[:100])).fetchone()
        return None if row is None else (row[0], row[1])

    def tally(self, code: str, question: str) -> Tally:
        choices = self._check_question(question)
        with self._connect() as db:
            self._live(db, code)
            counts = dict.fromkeys(choices, 0)
            for choice, n in db.execute("SELECT choice, COUNT(*) FROM votes WHERE code = ? AND question = ? "
                                        "GROUP BY choice", (code, question)):
                counts[choice] = n
            texts = [r[0] for r in db.execute("SELECT text FROM votes WHERE code = ? AND question = ? AND text != '' "
                                              "ORDER BY at DESC", (code, question))]
            revealed = db.execute("SELECT 1 FROM revealed WHERE code = ? AND question = ?",
                                  (code, question)).fetchone() is not None
        return Tally(counts, texts, revealed)

    @staticmethod
    def _check_question(question: str) -> tuple[str, ...]:
        if question not in QUESTIONS:
            raise ClassError("bad_question", f"no question {question!r}")
        return QUESTIONS[question]


_stores: dict[Path, ClassStore] = {}
_stores_lock = threading.Lock()


def open_store(directory: Path | None = None) -> ClassStore:
    """The server's store under the cache dir ($GRU_VIZ_CACHE_DIR, else the user's cache), opened once per path."""
    path = ((directory or cache_dir()) / STORE_FILE).resolve()
    with _stores_lock:
        if path not in _stores:
            _stores[path] = ClassStore(path)
        return _stores[path]
