"""The class store: random unique codes, a day's expiry, one vote per voter, isolation, caps, many threads."""

from __future__ import annotations

import threading

import pytest

from gru_viz.serve.classroom import (
    ALPHABET,
    CODE_LENGTH,
    MAX_TEXT,
    QUESTIONS,
    TTL_SECONDS,
    ClassError,
    ClassStore,
    normalize_code,
    open_store,
    ppl_answer,
)


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


def test_classes_expire_after_a_day(store, clock):
    old, _ = store.create()
    store.vote(old, "l1", "alice", "a")
    clock.now += TTL_SECONDS - 1
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
    store.create()
    with pytest.raises(ClassError) as e:
        store.create()
    assert e.value.reason == "too_many"
    store.vote(code, "l1", "alice", "a")
    store.vote(code, "l1", "bob", "a")
    store.vote(code, "l2", "bob", "a")  # a known voter may answer more questions
    with pytest.raises(ClassError) as e:
        store.vote(code, "l1", "carol", "a")
    assert e.value.reason == "full"
    clock.now += TTL_SECONDS + 1  # expired classes free their places
    store.create()


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
    from gru_viz.model import PRESETS

    assert {q for q in QUESTIONS if q.startswith("ppl_")} == {f"ppl_{p}" for p in PRESETS if p != "free"}
    assert ppl_answer(10.0, 10.05) == "same" and ppl_answer(10.0, 12.0) == "up" and ppl_answer(10.0, 8.0) == "down"


def test_the_store_lives_in_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRU_VIZ_CACHE_DIR", str(tmp_path))
    store = open_store()
    assert store.path == (tmp_path / "classes.sqlite3").resolve() and store.path.is_file()
    assert open_store() is store
