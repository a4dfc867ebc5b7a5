"""Files from either edition's notebook: bare safetensors (gru_viz/checkpoints/notebook.py) and torch.save files
through `python -m gru_viz import` (gru_viz/checkpoints/torch_import.py), the vocabulary order recognised, hostile
files refused."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from d2l_editions import D2L10_ORDER, TRAIN_TEXT, RNNLMScratch, RNNModel, train_d2l10_scratch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from gru_viz.checkpoints.checkpoint import CheckpointError, load_checkpoint
from gru_viz.checkpoints.notebook import (
    EDITIONS,
    PASSAGE,
    SEED_ORDER,
    VocabOrderError,
    load_any,
    load_notebook,
    notebook_bytes,
)
from gru_viz.checkpoints.torch_import import import_file
from gru_viz.cli import main
from gru_viz.data import preprocess
from gru_viz.explain.inference import predict, trace_text
from gru_viz.nets.concise import ConciseGRU
from gru_viz.nets.model import PARAM_NAMES

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "pretrained"
PROBE = "the time traveller spoke of the fourth dimension while the lamp burned low"


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(ASSETS / "epoch_0500.safetensors")


def bare(tensors: dict[str, torch.Tensor]) -> bytes:
    return st_save({k: v.detach().contiguous() for k, v in tensors.items()})


def same_trace(a, b, text: str = PROBE) -> None:
    ta, tb = trace_text(a.model, a.vocab, text), trace_text(b.model, b.vocab, text)
    for key in ("R", "Z", "H_tilde", "H", "logits"):
        assert np.array_equal(getattr(ta, key), getattr(tb, key)), key


def test_seed_order_is_the_books_frequency_order(tm_corpus):
    assert tuple(tm_corpus.vocab.idx_to_token) == SEED_ORDER


@pytest.mark.parametrize("names", ["seed", "params", "d2l-1.0"])
def test_bundled_model_resaved_bare_under_each_editions_names_loads_and_traces_identically(bundled, names):
    p = {k: v.detach() for k, v in bundled.model.params().items()}
    if names == "params":  # the seed's params list, saved in get_params' order
        tensors = {str(i): p[n] for i, n in enumerate(PARAM_NAMES)}
    elif names == "d2l-1.0":
        tensors = {(n if n in ("W_hq", "b_q") else "rnn." + n): p[n] for n in PARAM_NAMES}
    else:
        tensors = p
    nb = load_notebook(bare(tensors), "bare.safetensors")
    assert nb.edition == "seed" and nb.chosen  # trained in the seed's order, whatever the names
    assert nb.perplexity["d2l-1.0"] > 3 * nb.perplexity["seed"]
    same_trace(bundled, nb.checkpoint)


@pytest.fixture(scope="module")
def model10() -> RNNLMScratch:
    """A d2l 1.0 scratch GRU (alphabetical vocabulary) trained here for 30 steps on English written for the test."""
    ids = torch.tensor([D2L10_ORDER.index(c) for c in preprocess(TRAIN_TEXT)])
    return train_d2l10_scratch(ids)


def test_d2l10_model_loads_with_the_10_order_chosen_and_traces_equal_to_its_equations(model10):
    nb = load_notebook(bare(model10.state_dict()), "d2l10.safetensors")
    assert nb.edition == "d2l-1.0" and nb.chosen and nb.layout == "d2l10_scratch"
    assert nb.perplexity["seed"] > 3 * nb.perplexity["d2l-1.0"]
    ckpt = nb.checkpoint
    assert ckpt.vocab.idx_to_token == list(SEED_ORDER)  # converted to this app's order
    text = preprocess(PASSAGE)
    tr = trace_text(ckpt.model, ckpt.vocab, text, normalize=False)
    with torch.no_grad():
        ids = torch.tensor([[D2L10_ORDER.index(c) for c in text]])
        hs, _ = model10.rnn(model10.one_hot(ids))
        logits = model10.output_layer(hs)[0]  # (steps, vocab) in 1.0's order
    ours = [D2L10_ORDER.index(t) for t in SEED_ORDER]
    assert np.allclose(tr.H, torch.stack(hs)[:, 0].numpy(), atol=1e-6, rtol=0)
    assert np.allclose(tr.logits, logits[:, ours].numpy(), atol=1e-5, rtol=0)  # float32 sums of 32 products
    # and back: the export for 1.0 is the original file's tensors, exactly
    back = load_notebook(notebook_bytes(ckpt, "d2l-1.0"), "back")
    assert back.edition == "metadata"
    out = {k: v for k, v in zip(*_read(notebook_bytes(ckpt, "d2l-1.0")), strict=True)}
    for k, v in model10.state_dict().items():
        assert torch.equal(out[k], v), k


def _read(data: bytes) -> tuple[list[str], list[torch.Tensor]]:
    from safetensors.torch import load

    t = load(data)
    return list(t), list(t.values())


def test_the_switch_loads_the_other_order_and_the_file_can_name_its_vocabulary(model10):
    data = bare(model10.state_dict())
    seed_read = load_notebook(data, "x", edition="seed")
    assert seed_read.edition == "seed" and not seed_read.chosen
    assert not np.array_equal(trace_text(seed_read.checkpoint.model, seed_read.checkpoint.vocab, PROBE).logits,
                              trace_text(load_notebook(data, "x").checkpoint.model, seed_read.checkpoint.vocab,
                                         PROBE).logits)
    named = st_save({k: v.detach().contiguous() for k, v in model10.state_dict().items()},
                    metadata={"vocab": json.dumps(list(D2L10_ORDER))})
    nb = load_notebook(named, "named")
    assert nb.edition == "metadata" and nb.checkpoint.vocab.idx_to_token[0] == "<unk>"
    same_trace(load_notebook(data, "x").checkpoint, nb.checkpoint)  # the same model, read from its metadata


def test_an_untrained_model_is_refused_with_the_reason_and_loads_when_an_edition_is_chosen():
    torch.manual_seed(0)
    p = {n: torch.randn(s) * 0.01 for n, s in
         {"W_xz": (28, 8), "W_hz": (8, 8), "b_z": (8,), "W_xr": (28, 8), "W_hr": (8, 8), "b_r": (8,),
          "W_xh": (28, 8), "W_hh": (8, 8), "b_h": (8,), "W_hq": (8, 28), "b_q": (28,)}.items()}
    with pytest.raises(VocabOrderError, match=r"cannot tell which edition.*perplexity .* choose the edition"):
        load_notebook(bare(p), "fresh")
    assert load_notebook(bare(p), "fresh", edition="d2l-1.0").edition == "d2l-1.0"


def test_a_vocabulary_other_than_28_is_refused_with_the_lines_that_add_it():
    p = {n: torch.zeros(s) for n, s in {"W_xz": (30, 4), "W_hz": (4, 4), "b_z": (4,), "W_xr": (30, 4),
                                         "W_hr": (4, 4), "b_r": (4,), "W_xh": (30, 4), "W_hh": (4, 4),
                                         "b_h": (4,), "W_hq": (4, 30), "b_q": (30,)}.items()}
    with pytest.raises(CheckpointError) as err:
        load_notebook(bare(p), "big")
    msg = str(err.value)
    assert "30 tokens" in msg and "save_file(tensors, 'gru.safetensors', metadata={'vocab': json.dumps(" in msg
    assert "\n" not in msg


def _concise_state(edition: str, hidden: int = 16):
    torch.manual_seed(1)
    gru = nn.GRU(28, hidden)
    if edition == "seed":
        net = RNNModel(gru, 28)
    else:
        from d2l_editions import GRU, RNNLM

        net = RNNLM(GRU(28, hidden), 28)
        net.linear(torch.zeros(1, hidden))  # LazyLinear takes its shape on first use
    return net


def test_scratch_and_concise_files_saved_with_torch_save_convert_and_trace_identically(bundled, model10, tmp_path):
    p = bundled.model.params()
    cases = {"params": ([p[n].detach().clone().requires_grad_() for n in PARAM_NAMES], bundled),
             "d2l10": (model10.state_dict(), load_notebook(bare(model10.state_dict()), "x").checkpoint)}
    for edition in ("seed", "d2l-1.0"):
        net = _concise_state(edition)
        cases[f"concise-{edition}"] = (net.state_dict(), load_notebook(bare(net.state_dict()), "x",
                                                                       edition="seed").checkpoint)
    for label, (obj, expected) in cases.items():
        src = tmp_path / f"{label}.pt"
        torch.save(obj, src)
        pick = ["--vocab-edition", "seed"] if label.startswith("concise") else []  # untrained: no order fits
        assert main(["import", str(src), "--out", str(tmp_path / f"{label}.safetensors"), *pick]) == 0
        got = load_checkpoint(tmp_path / f"{label}.safetensors")
        assert type(got.model) is type(expected.model)
        same_trace(expected, got)
    assert isinstance(got.model, ConciseGRU)


def cuda_claiming(src: Path, dst: Path) -> int:
    """src's torch.save archive with every storage's location rewritten from 'cpu' to 'cuda:0' in data.pkl (the
    pickle memoises the string, so one BINUNICODE opcode names it): what a notebook GPU's file looks like."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        patched = 0
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/data.pkl"):
                patched = data.count(b"X\x03\x00\x00\x00cpu")
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            zout.writestr(info, data)
    return patched


def test_a_file_whose_tensors_claim_a_cuda_device_converts_on_a_machine_without_one(bundled, tmp_path):
    p = bundled.model.params()
    torch.save([p[n].detach().clone() for n in PARAM_NAMES], tmp_path / "cpu.pt")
    assert cuda_claiming(tmp_path / "cpu.pt", tmp_path / "gpu.pt") == 1
    if not torch.cuda.is_available():  # the crafted file really claims CUDA: a plain load fails here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(tmp_path / "gpu.pt", weights_only=True)
    data, nb = import_file(tmp_path / "gpu.pt")
    assert nb.edition == "seed"
    same_trace(bundled, load_checkpoint(data))


def _zip_with(tmp_path: Path, name: str, entries: dict[str, bytes | int]) -> Path:
    """A torch.save-shaped zip; an int value is that many zero bytes, written in 1 MB pieces (deflated)."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for entry, content in entries.items():
            if isinstance(content, int):
                with z.open(entry, "w", force_zip64=True) as f:
                    for _ in range(content // (1 << 20)):
                        f.write(bytes(1 << 20))
            else:
                z.writestr(entry, content)
    return path


class Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def hostile_files(tmp_path: Path, bundled) -> dict[str, tuple[Path, str]]:
    marker = tmp_path / "pwned"
    p = {n: v.detach().clone() for n, v in bundled.model.params().items()}
    files = {}

    def saved(label, obj):
        torch.save(obj, tmp_path / f"{label}.pt")
        return tmp_path / f"{label}.pt"

    files["wrong shape"] = (saved("shape", {**p, "W_hh": torch.zeros(256, 255)}), "W_hh must be a square")
    files["extra key"] = (saved("extra", {**p, "W_extra": torch.zeros(2)}), "unexpected \"W_extra\"")
    files["NaN"] = (saved("nan", {**p, "b_q": torch.full((28,), float("nan"))}), "NaN or infinite")
    files["1e30"] = (saved("huge", {**p, "W_hh": torch.full((256, 256), 1e30)}), "beyond ±1e+06")
    files["oversized zip entry"] = (_zip_with(tmp_path, "bomb.pt", {"a/data.pkl": b"\x80\x02}q\x00.",
                                                                     "a/data/0": 65 * (1 << 20)}),
                                    "unpacks to 68,157,440 bytes")
    files["pickle payload in a zip"] = (_zip_with(tmp_path, "evil.pt", {"a/data.pkl": pickle.dumps(Payload(marker),
                                                                                                   protocol=2),
                                                                         "a/version": b"3\n"}),
                                        "refused by torch.load(weights_only=True)")
    # an entry that claims 1,000 bytes but inflates to 2 MB: read with the claim as the bound, its CRC fails
    liar = _zip_with(tmp_path, "liar.pt", {"a/data.pkl": b"\x80\x02}q\x00.", "a/data/0": 2 * (1 << 20)}).read_bytes()
    claim = (2 * (1 << 20)).to_bytes(4, "little")
    assert liar.count(claim) == 2  # the local header and the central directory
    (tmp_path / "liar.pt").write_bytes(liar.replace(claim, (1000).to_bytes(4, "little")))
    files["entry lying about its size"] = (tmp_path / "liar.pt", "a broken zip archive (Bad CRC-32")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload(marker)))
    files["bare pickle"] = (tmp_path / "evil.pkl", "this is a Python pickle; pickles can run code")
    files["odd entry"] = (_zip_with(tmp_path, "odd.pt", {"a/data.pkl": b"\x80\x02}q\x00.", "a/../../x": b"1"}),
                          "unexpected entry")
    return files


def test_hostile_files_given_to_import_are_refused_with_one_line_and_nothing_runs(bundled, tmp_path, capsys):
    for label, (path, message) in hostile_files(tmp_path, bundled).items():
        out = tmp_path / f"{path.stem}.safetensors"
        assert main(["import", str(path), "--out", str(out)]) == 2, label
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (label, err)
        assert not out.exists(), label
    assert not (tmp_path / "pwned").exists()


def test_the_app_loader_keeps_its_own_checkpoints_and_refuses_a_foreign_format(bundled):
    data = (ASSETS / "epoch_0005.safetensors").read_bytes()
    ckpt, nb = load_any(data, "ours")
    assert nb is None and ckpt.meta["format"] == "gru_viz.checkpoint/1"
    p = {k: v.detach().contiguous() for k, v in bundled.model.params().items()}
    with pytest.raises(CheckpointError, match="not a gru_viz checkpoint"):
        load_any(st_save(p, metadata={"format": "other/1"}), "other")


def test_export_for_each_edition_round_trips(bundled):
    for edition in EDITIONS:
        nb = load_notebook(notebook_bytes(bundled, edition), edition)
        same_trace(bundled, nb.checkpoint)
    data = io.BytesIO(notebook_bytes(bundled, "d2l-1.0"))
    assert json.loads(json.loads(data.getvalue()[8:8 + int.from_bytes(data.getvalue()[:8], "little")])
                      ["__metadata__"]["vocab"]) == list(D2L10_ORDER)


def test_trace_and_sample_read_a_bare_notebook_file_too(bundled, tmp_path, capsys):
    path = tmp_path / "bare10.safetensors"
    path.write_bytes(st_save(st_load(notebook_bytes(bundled, "d2l-1.0"))))  # 1.0's names and order, no metadata
    assert main(["sample", "--checkpoint", str(path), "--prefix", "time traveller", "--n", "30"]) == 0
    assert capsys.readouterr().out.strip() == predict("time traveller", 30, bundled.model, bundled.vocab)
    assert main(["trace", "--checkpoint", str(path), "--text", PROBE, "--out", str(tmp_path / "t.npz")]) == 0
    assert np.array_equal(np.load(tmp_path / "t.npz")["H"], trace_text(bundled.model, bundled.vocab, PROBE).H)


def test_import_writes_beside_the_file_by_default_and_never_over_it(bundled, tmp_path, capsys):
    p = bundled.model.params()
    torch.save({n: p[n].detach() for n in PARAM_NAMES}, tmp_path / "gru.pt")
    assert main(["import", str(tmp_path / "gru.pt")]) == 0
    assert "seed scratch (get_params' names), hidden 256, vocabulary order seed (recognised" in capsys.readouterr().out
    same_trace(bundled, load_checkpoint(tmp_path / "gru.safetensors"))
    bare_file = tmp_path / "mine.safetensors"
    bare_file.write_bytes(bare(p))
    assert main(["import", str(bare_file)]) == 0
    assert bare_file.read_bytes() == bare(p)  # the source is untouched; the checkpoint goes beside it
    same_trace(bundled, load_checkpoint(tmp_path / "mine.gru_viz.safetensors"))


def test_a_header_entry_without_a_shape_is_refused_by_the_checkpoint_checks():
    data = bare({n: torch.zeros(s) for n, s in {"W_xz": (28, 4), "W_hz": (4, 4), "b_z": (4,), "W_xr": (28, 4),
                                                 "W_hr": (4, 4), "b_r": (4,), "W_xh": (28, 4), "W_hh": (4, 4),
                                                 "b_h": (4,), "W_hq": (4, 28), "b_q": (28,)}.items()})
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["W_xz"]["shape"] = "28x4"
    raw = json.dumps(header).encode()
    with pytest.raises(CheckpointError, match="tensor W_xz has a shape that is not a list of integers"):
        load_notebook(len(raw).to_bytes(8, "little") + raw + data[8 + n :], "odd")
