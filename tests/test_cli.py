"""The CLI: a small end-to-end run, trace and sample outputs, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.cli import main

TEXT = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter\n" * 30


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    corpus = d / "c.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = d / "m.safetensors"
    code = main(["train", "--corpus", str(corpus), "--hidden", "16", "--epochs", "3", "--batch-size", "4",
                 "--num-steps", "8", "--out", str(out), "--snapshots", str(d / "snaps"), "--json"])
    assert code == 0
    return d, out


def test_train_json_and_checkpoint(trained, capsys):
    d, out = trained
    c = load_checkpoint(out)
    assert c.config["hidden"] == 16 and c.config["epochs"] == 3 and len(c.history) == 3
    assert sorted(p.name for p in (d / "snaps").iterdir()) == ["epoch_0001.safetensors", "epoch_0003.safetensors"]


def test_train_json_last_line():
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-m", "gru_viz", "train", "--corpus", "offline", "--hidden", "8",
                           "--epochs", "1", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"perplexity", "tokens_per_sec", "device", "epochs"} <= set(result)
    assert result["epochs"] == 1 and result["device"] == "cpu" and result["perplexity"] > 1


def test_trace_npz(trained, tmp_path):
    _, ckpt = trained
    out = tmp_path / "t.npz"
    assert main(["trace", "--checkpoint", str(ckpt), "--text", "Time, Traveller!", "--force-z", "0",
                 "--force-r", "1", "--out", str(out)]) == 0
    z = np.load(out)
    steps = len("time traveller")
    for k in ("R", "Z", "H_tilde", "H"):
        assert z[k].shape == (steps, 16)
    assert z["logits"].shape == (steps, len(load_checkpoint(ckpt).vocab)) and z["tokens"].shape == (steps,)
    assert np.all(z["Z"] == 0) and np.all(z["R"] == 1)
    np.testing.assert_allclose(z["H"], z["H_tilde"])


def test_sample(trained, capsys):
    _, ckpt = trained
    assert main(["sample", "--checkpoint", str(ckpt), "--prefix", "time", "--n", "12"]) == 0
    line = capsys.readouterr().out.rstrip("\n")
    assert line.startswith("time") and len(line) == 4 + 12
    assert main(["sample", "--checkpoint", str(ckpt), "--n", "20", "--temperature", "0.8", "--seed", "1"]) == 0


@pytest.mark.parametrize(
    "argv, match",
    [
        (["sample", "--checkpoint", "/nonexistent.safetensors"], "no such file"),
        (["train", "--corpus", "/nonexistent.txt"], "no such file"),
        (["train", "--force-z", "1.5"], "gate value"),
        (["train", "--lr", "nan"], "learning rate"),
        (["train", "--epochs", "0"], "epochs"),
        (["train", "--bogus"], "unrecognized"),
        ([], "required"),
        (["sample", "--checkpoint", "{bad}", "--n", "-1"], "--n"),
    ],
)
def test_errors_are_one_line_exit_2(argv, match, capsys, tmp_path):
    argv = [a.replace("{bad}", str(tmp_path / "x")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gru_viz: error:") and match in err
    assert "Traceback" not in err


def test_error_files(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    short = tmp_path / "short.txt"
    short.write_text("just a few words here", encoding="utf-8")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x80\x04K\x01.")
    cases = [(["train", "--corpus", str(empty)], "no letters"),
             (["train", "--corpus", str(short)], "needs at least"),
             (["sample", "--checkpoint", str(junk)], "pickle"),
             (["trace", "--checkpoint", str(junk), "--text", "a", "--out", str(tmp_path / "o.npz")], "pickle")]
    for argv, match in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and match in err


def test_subprocess_error_has_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run([sys.executable, "-m", "gru_viz", "trace", "--checkpoint", str(tmp_path / "x"),
                           "--text", "hi", "--out", str(tmp_path / "o.npz")], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--seed", "99999999999999999999999"], "argument --seed: must be an integer from 0 to 4294967295"),
        (["sample", "--checkpoint", "x", "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295"),
        (["train", "--hidden", "10" * 20], "argument --hidden: must be an integer from 1 to 4096"),
        (["train", "--batch-size", "0"], "argument --batch-size: must be an integer from 1 to 4096, got 0"),
        (["bench", "--epochs", "0"], "argument --epochs: must be an integer from 1 to 1000, got 0"),
        (["bench", "--epochs", "-1"], "argument --epochs: must be an integer from 1 to 1000, got -1"),
        (["bench", "--reps", "0"], "argument --reps: must be an integer from 1 to 100, got 0"),
        (["bench", "--reps", "two"], "argument --reps: must be an integer from 1 to 100, got 'two'"),
        (["trace", "--checkpoint", "x", "--text", "a", "--out", ""], "argument --out: must name a file, got an empty"),
        (["sample", "--checkpoint", ""], "argument --checkpoint: must name a file, got an empty string"),
        (["fetch", "--from", ""], "argument --from: must name a file, got an empty string"),
        (["train", "--corpus", ""], "no corpus given: use timemachine, offline, or the path"),
        (["fetch", "--from", "/dev/zero"], "/dev/zero: is a device, not a regular file"),
        (["train", "--corpus", "/dev/zero"], "/dev/zero: is a device, not a regular file"),
        (["sample", "--checkpoint", "/dev/zero"], "/dev/zero: is a device, not a regular file"),
    ],
)
def test_flag_errors_name_the_flag_and_range(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_out_into_a_missing_directory_is_refused_and_nothing_is_created(trained, tmp_path, capsys):
    _, ckpt = trained
    missing = tmp_path / "no" / "such"
    cases = [["trace", "--checkpoint", str(ckpt), "--text", "time", "--out", str(missing / "t.npz")],
             ["train", "--corpus", "offline", "--epochs", "1", "--out", str(missing / "m.safetensors")],
             ["train", "--corpus", "offline", "--epochs", "1", "--snapshots", str(missing / "snaps")],
             ["trace", "--checkpoint", str(ckpt), "--text", "time", "--out", str(tmp_path)]]
    for argv in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("does not exist (create it first)" in err or "is a directory" in err), err
    assert not (tmp_path / "no").exists()


def test_trace_out_without_suffix_reports_the_file_numpy_writes(trained, tmp_path, capsys):
    _, ckpt = trained
    assert main(["trace", "--checkpoint", str(ckpt), "--text", "time", "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t.npz").is_file() and str(tmp_path / "t.npz") in capsys.readouterr().out


def test_utf16_corpus_trains(tmp_path):
    corpus = tmp_path / "c16.txt"
    corpus.write_text(TEXT, encoding="utf-16")  # with a byte-order mark, as Windows' Notepad writes "Unicode"
    assert main(["train", "--corpus", str(corpus), "--hidden", "8", "--epochs", "1", "--batch-size", "4",
                 "--num-steps", "8"]) == 0
