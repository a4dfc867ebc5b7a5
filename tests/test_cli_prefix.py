"""The CLI continues a raw model trained on other text from that text's first words (stored with the model), not
from d2l's "time traveller"."""

from __future__ import annotations

from gru_viz.checkpoints.checkpoint import load_checkpoint
from gru_viz.cli import main

# Written for this test: a small German text, so any English prefix would be out of place.
TEXT = ("Der Zug fährt um acht Uhr ab. Wir warten am Gleis, trinken Kaffee und lesen die Zeitung. " * 12)


def test_a_raw_model_samples_from_its_own_corpus_words_by_default(tmp_path, capsys):
    corpus = tmp_path / "de.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "m.safetensors"
    assert main(["train", "--corpus", str(corpus), "--tokens", "raw", "--hidden", "8", "--epochs", "1",
                 "--batch-size", "4", "--num-steps", "8", "--out", str(out)]) == 0
    capsys.readouterr()
    assert load_checkpoint(out).config["prefix"] == "Der Zug fährt um acht"
    assert main(["sample", "--checkpoint", str(out), "--n", "10"]) == 0
    line = capsys.readouterr().out.rstrip("\n")
    assert line.startswith("Der Zug fährt um acht") and "time traveller" not in line
    # every character of this small alphabet is in the vocabulary (digits and capitals too: nothing cut)
    assert set(TEXT) <= set(load_checkpoint(out).vocab.idx_to_token)
