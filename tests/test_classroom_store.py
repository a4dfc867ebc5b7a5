"""The class store: random unique codes, a day's expiry, one vote per voter, isolation, caps, many threads."""

from __future__ import annotations

import threading

import pytest

from gru_viz.serve.class_terms import ALPHABET, CODE_LENGTH, MAX_TEXT, QUESTIONS, ClassError, normalize_code, ppl_answer
from gru_viz.serve.classroom import IDLE_SECONDS, TOUCH_EVERY, TTL_SECONDS, VOTERS_PER_NETWORK, ClassStore, open_store


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def store(tmp_path, clock):
    return ClassStore(tmp_path / "classes.sqlite3", clock=clock)


def test_codes_are_six_characters_of_the_unambiguous_alphabet_and_all_different(store):
    codes = [store.create()[0] for _ in range(300)]
    assert len(set(codes)) == len(codes)
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in codes)
    assert not set(ALPHABET) & set("0O1IL5S2Z8B")
    # random, not sequential: every position takes many different characters
    assert all(len({c[i] for c in codes}) > len(ALPHABET) // 2 for i in range(CODE_LENGTH))


def test_a_code_collision_draws_again(store, monkeypatch):
    import gru_viz.serve.classroom as classroom

    first, _ = store.create()
    draws = iter(first + "CCCCCC")  # the first draw repeats the existing code, the second is new
    monkeypatch.setattr(classroom.secrets, "choice", lambda _alphabet: next(draws))
    assert store.create()[0] == "CCCCCC"


def test_codes_are_normalised_as_typed_and_others_refused():
    assert normalize_code(" acd-346 ") == "ACD346"
    assert normalize_code("acd 346") == "ACD346"
    for bad in ("", "ACD34", "ACD3467", "ACD340", "<b>x</b>", None):
        assert normalize_code(bad) is None


def test_one_vote_per_voter_per_question_and_a_vote_can_be_changed(store):
    code, _ = store.create()
    store.vote(code, "l1", "alice", "a", "because")
    store.vote(code, "l1", "alice", "b", "changed my mind")
    store.vote(code, "l1", "bob", "b")
    store.vote(code, "ppl_plain_rnn", "alice", "up")
    tally = store.tally(code, "l1")
    assert tally.counts == {"a": 0, "b": 2, "c": 0, "d": 0} and tally.total == 2
    assert tally.texts == ["changed my mind"]
    assert store.my_vote(code, "l1", "alice") == ("b", "changed my mind")
    assert store.my_vote(code, "l1", "carol") is None
    assert store.state(code).voters == 2


def test_bad_choices_and_questions_are_refused(store):
    code, _ = store.create()
    with pytest.raises(ClassError) as e:
        store.vote(code, "l1", "alice", "up")
    assert e.value.reason == "bad_choice"
    with pytest.raises(ClassError) as e:
        store.vote(code, "l9", "alice", "a")
    assert e.value.reason == "bad_question"
    with pytest.raises(ClassError) as e:
        store.vote("CCCCCC", "l1", "alice", "a")
    assert e.value.reason == "no_class"


def test_written_answers_are_capped_and_control_characters_dropped(store):
    code, _ = store.create()
    store.vote(code, "l2", "alice", "a", "x\x00y\x1b" + "z" * 1000)
    (text,) = store.tally(code, "l2").texts
    assert text.startswith("xyz") and len(text) == MAX_TEXT


def test_only_the_teacher_reveals_and_a_revealed_question_takes_no_more_votes(store):
    code, token = store.create()
    store.vote(code, "l3", "alice", "a")
    with pytest.raises(ClassError) as e:
        store.reveal(code, "not the token", "l3")
    assert e.value.reason == "not_teacher"
    assert store.is_teacher(code, token) and not store.is_teacher(code, "guess")
    store.reveal(code, token, "l3")
    assert store.tally(code, "l3").revealed and store.state(code).revealed == {"l3"}
    with pytest.raises(ClassError) as e:
        store.vote(code, "l3", "bob", "b")
    assert e.value.reason == "revealed"
    store.reveal(code, token, "l3", revealed=False)  # hidden again: voting reopens
    store.vote(code, "l3", "bob", "b")
    assert store.tally(code, "l3").counts["b"] == 1


def test_closing_a_class_deletes_it(store):
    code, token = store.create()
    store.vote(code, "l1", "alice", "a")
    store.close(code, token)
    assert store.state(code) is None
    with pytest.raises(ClassError):
        store.tally(code, "l1")


def _keep_alive(store, clock, seconds: float, *codes: str) -> None:
    """A teacher's page open for `seconds`: it touches its class as it polls."""
    end = clock.now + seconds
    while clock.now < end:
        clock.now = min(end, clock.now + IDLE_SECONDS / 2)
        for code in codes:
            store.touch(code)


def test_classes_expire_after_a_day(store, clock):
    old, _ = store.create()
    store.vote(old, "l1", "alice", "a")
    _keep_alive(store, clock, TTL_SECONDS - 1, old)
    assert store.state(old) is not None
    young, _ = store.create()
    clock.now += 2  # the first class is a day old, the second one two seconds
    assert store.state(old) is None and store.state(young) is not None
    with pytest.raises(ClassError) as e:
        store.vote(old, "l1", "bob", "a")
    assert e.value.reason == "no_class"
    # purged from the file, not only hidden
    import sqlite3

    db = sqlite3.connect(store.path)
    assert db.execute("SELECT COUNT(*) FROM votes WHERE code = ?", (old,)).fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM classes").fetchone()[0] == 1


def test_two_classes_on_one_server_are_isolated(store):
    a, token_a = store.create()
    b, _ = store.create()
    store.vote(a, "l1", "alice", "a", "in class a")
    store.vote(b, "l1", "alice", "c", "in class b")
    store.reveal(a, token_a, "l1")
    assert store.tally(a, "l1").counts == {"a": 1, "b": 0, "c": 0, "d": 0}
    assert store.tally(b, "l1").counts == {"a": 0, "b": 0, "c": 1, "d": 0}
    assert store.tally(b, "l1").texts == ["in class b"] and not store.tally(b, "l1").revealed
    with pytest.raises(ClassError):
        store.reveal(b, token_a, "l1")  # a teacher's token opens only their own class


def test_caps_on_classes_and_voters(tmp_path, clock):
    store = ClassStore(tmp_path / "small.sqlite3", clock=clock, max_classes=2, max_voters=2)
    code, _ = store.create()
    other, _ = store.create()
    store.vote(other, "l1", "dave", "a")
    store.vote(code, "l1", "alice", "a")
    with pytest.raises(ClassError) as e:  # both classes have votes: none can be made room for
        store.create()
    assert e.value.reason == "too_many"
    store.vote(code, "l1", "bob", "a")
    store.vote(code, "l2", "bob", "a")  # a known voter may answer more questions
    with pytest.raises(ClassError) as e:
        store.vote(code, "l1", "carol", "a")
    assert e.value.reason == "full"
    clock.now += TTL_SECONDS + 1  # expired classes free their places
    store.create()


def test_a_flood_of_classes_ages_out_in_minutes_and_a_teacher_can_always_start(tmp_path, clock):
    """Issue 31 (3): 500 "Start a class" filled the store for a day. Now empty classes make room (oldest first)
    and idle ones end after IDLE_SECONDS; a class in use (votes, a teacher's page polling) stays."""
    store = ClassStore(tmp_path / "flood.sqlite3", clock=clock, max_classes=50)
    real, token = store.create()
    store.vote(real, "l1", "alice", "a")
    flood = []
    for _ in range(200):  # four times the cap, a second apart
        clock.now += 1
        flood.append(store.create()[0])
    # the real class (votes) survives; the oldest flood classes were evicted to make room
    assert store.state(real) is not None
    alive = [c for c in flood if store.state(c) is not None]
    assert alive == flood[-49:]
    clock.now += 60
    teacher, _ = store.create()  # the store is full of empty flood classes: a teacher still gets one
    assert store.state(teacher) is not None
    _keep_alive(store, clock, IDLE_SECONDS + TOUCH_EVERY + 1, real, teacher)
    assert [c for c in flood if store.state(c) is not None] == []  # aged out, untouched
    assert store.state(real) is not None and store.state(teacher) is not None
    import sqlite3

    store.vote(real, "l1", "bob", "b")  # the next write purges them from the file
    assert sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM classes").fetchone()[0] == 2


def test_fake_voters_from_one_network_cannot_fill_a_class(tmp_path, clock):
    """Issue 31 (3): 300 forged voters (a fresh cookie each) filled a class. Voters are counted per network:
    a classroom of thirty behind one address joins; the flood stops at VOTERS_PER_NETWORK; a student elsewhere
    still votes."""
    store = ClassStore(tmp_path / "voters.sqlite3", clock=clock)
    code, _ = store.create()
    for i in range(30):
        store.vote(code, "l1", f"student{i}", "a", network="203.0.113.7")  # one school's NAT
    refused = 0
    for i in range(300):
        try:
            store.vote(code, "l1", f"fake{i}", "b", network="198.51.100.9")
        except ClassError as exc:
            assert exc.reason == "full_network"
            refused += 1
    assert refused == 300 - VOTERS_PER_NETWORK
    store.vote(code, "l1", "genuine", "c", network="192.0.2.44")
    store.vote(code, "l2", "student3", "b", network="203.0.113.7")  # a known voter answers on
    assert store.tally(code, "l1").counts == {"a": 30, "b": VOTERS_PER_NETWORK, "c": 1, "d": 0}


def test_a_store_written_before_the_idle_and_network_columns_opens(tmp_path, clock):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE classes (code TEXT PRIMARY KEY, token_hash TEXT NOT NULL, created REAL NOT NULL);
        CREATE TABLE votes (code TEXT NOT NULL, question TEXT NOT NULL, voter TEXT NOT NULL,
            choice TEXT NOT NULL, text TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (code, question, voter));""")
    db.close()
    store = ClassStore(path, clock=clock)
    code, _ = store.create()
    store.vote(code, "l1", "alice", "a", network="192.0.2.1")
    assert store.tally(code, "l1").total == 1


def test_many_threads_voting_at_once_lose_no_vote(store):
    code, token = store.create()
    voters, rounds = 24, 5
    errors = []

    def student(i: int) -> None:
        try:
            for r in range(rounds):  # each changes their vote a few times and ends on a known choice
                store.vote(code, "ppl_plain_rnn", f"s{i}", ("up", "down", "same")[(i + r) % 3])
                store.state(code)
            store.vote(code, "ppl_plain_rnn", f"s{i}", ("up", "down", "same")[i % 3], f"student {i}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(voters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    tally = store.tally(code, "ppl_plain_rnn")
    assert tally.counts == {"up": 8, "down": 8, "same": 8}
    assert sorted(tally.texts) == sorted(f"student {i}" for i in range(voters))


def test_every_forcing_preset_but_free_has_a_perplexity_question():
    from gru_viz.nets.model import PRESETS

    assert {q for q in QUESTIONS if q.startswith("ppl_")} == {f"ppl_{p}" for p in PRESETS if p != "free"}
    assert ppl_answer(10.0, 10.05) == "same" and ppl_answer(10.0, 12.0) == "up" and ppl_answer(10.0, 8.0) == "down"


def test_the_store_lives_in_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRU_VIZ_CACHE_DIR", str(tmp_path))
    store = open_store()
    assert store.path == (tmp_path / "classes.sqlite3").resolve() and store.path.is_file()
    assert open_store() is store
