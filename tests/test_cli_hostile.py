"""The CLI on hostile arguments: subnormal, huge and non-finite numbers for every float option, a file that is not
a library, and FIFOs with no writer, devices and directories where a file is expected: one line on stderr and
exit status 2 (or a normal run), never a traceback, never a hang (FIFO cases run in a subprocess with a
liveness timeout, so a regression fails instead of hanging the suite)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from gru_viz.cli import main

TEXT = "the time traveller for so it will be convenient to speak of him was expounding a recondite matter\n" * 8
FLOATS = ["1e-320", "5e-324", "1e308", "1e400", "inf", "nan", "-0.0"]  # subnormal, huge, overflowing, non-finite
LIVENESS_S = 120  # each case takes well under a second once torch is imported; a hang never ends


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    (d / "c.txt").write_text(TEXT, encoding="utf-8")
    assert main(["train", "--corpus", str(d / "c.txt"), "--hidden", "4", "--epochs", "1", "--batch-size", "2",
                 "--num-steps", "5", "--out", str(d / "m.safetensors")]) == 0
    return d


def _train(d) -> list[str]:
    return ["train", "--corpus", str(d / "c.txt"), "--hidden", "4", "--epochs", "1", "--batch-size", "2",
            "--num-steps", "5"]


FLOAT_OPTIONS = {
    "train --lr": lambda d: [*_train(d), "--lr"],
    "train --clip": lambda d: [*_train(d), "--clip"],
    "train --force-z": lambda d: [*_train(d), "--force-z"],
    "sample --temperature": lambda d: ["sample", "--checkpoint", str(d / "m.safetensors"), "--n", "20",
                                       "--temperature"],
    "sample --force-r": lambda d: ["sample", "--checkpoint", str(d / "m.safetensors"), "--force-r"],
    "trace --force-z": lambda d: ["trace", "--checkpoint", str(d / "m.safetensors"), "--text", "time",
                                  "--out", str(d / "t.npz"), "--force-z"],
}


@pytest.mark.parametrize("option", list(FLOAT_OPTIONS))
def test_every_float_option_takes_extreme_values_without_a_traceback(option, files, capsys):
    for value in FLOATS:
        code = main([*FLOAT_OPTIONS[option](files), value])  # an uncaught exception fails the test here
        err = capsys.readouterr().err
        assert code in (0, 2), (value, code)
        assert err == "" if code == 0 else (err.startswith("gru_viz: error: ") and err.count("\n") == 1), (value, err)


def test_a_subnormal_temperature_samples_the_most_likely_characters(files, capsys):
    ckpt = str(files / "m.safetensors")
    assert main(["sample", "--checkpoint", ckpt, "--n", "30"]) == 0
    greedy = capsys.readouterr().out
    assert main(["sample", "--checkpoint", ckpt, "--n", "30", "--temperature", "1e-320"]) == 0
    assert capsys.readouterr().out == greedy  # the limit of T -> 0 is the argmax (no <unk> at the top here)


def test_bench_compare_ext_refuses_what_is_not_a_loadable_kernel(files, capsys):
    elf = files / "not_a_kernel.so"
    shutil.copy(os.path.realpath(sys.executable), elf)  # a real ELF file, but no Python extension
    cases = {str(files / "c.txt"): "is not a compiled library", str(elf): "cannot be loaded as the C++ kernel"}
    for path, message in cases.items():
        code = main(["bench", "--corpus", str(files / "c.txt"), "--epochs", "1", "--reps", "1", "--hidden", "4",
                     "--compare-ext", path])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and message in err, err


def test_fifos_devices_and_directories_get_one_line_and_exit_2_without_hanging(files, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody ever writes to it or reads from it
    ckpt, t = str(files / "m.safetensors"), _train(files)
    out = ["--text", "a", "--out", str(tmp_path / "o.npz")]
    cases = [["fetch", "--from", str(fifo)], ["train", "--corpus", str(fifo)], [*t, "--out", str(fifo)],
             ["trace", "--checkpoint", str(fifo), *out], ["trace", "--checkpoint", ckpt, "--text", "a", "--out",
                                                          str(fifo)],
             ["sample", "--checkpoint", str(fifo)], ["bench", "--compare-ext", str(fifo)],
             ["fetch", "--from", "/dev/zero"], ["train", "--corpus", "/dev/null"],
             ["sample", "--checkpoint", "/dev/zero"],
             ["fetch", "--from", str(tmp_path)], ["train", "--corpus", str(tmp_path)],
             ["trace", "--checkpoint", str(tmp_path), *out], [*t, "--out", str(tmp_path)],
             ["import", str(fifo)],
             ["export", str(fifo), "--edition", "seed", "--out", str(tmp_path / "e.safetensors")],
             ["export", ckpt, "--edition", "seed", "--out", str(fifo)]]
    script = textwrap.dedent(f"""
        import contextlib, io, json
        from gru_viz.cli import main
        for argv in {cases!r}:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
            print(json.dumps([code, err.getvalue()]), flush=True)
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=LIVENESS_S,
                          env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(cases)
    for argv, (code, err) in zip(cases, results):
        assert code == 2 and err.startswith("gru_viz: error: ") and err.count("\n") == 1, (argv, err)
        assert any(word in err for word in ("named pipe", "device", "directory", "regular file")), (argv, err)
    assert fifo.exists() and not (tmp_path / "o.npz").exists()
