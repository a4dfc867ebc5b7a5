"""`python -m gru_viz import`: what a notebook saved with torch.save, as a checkpoint. The only unpickling in
gru_viz, on the user's own file and machine: the zip's entries are checked first, then weights_only on the CPU.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save as st_save

from gru_viz.checkpoints.checkpoint import MAX_BYTES, CheckpointError, checkpoint_bytes
from gru_viz.checkpoints.notebook import NotebookModel, load_notebook
from gru_viz.data import read_capped

MAX_ENTRIES = 64  # a GRU's state dict is 11 tensors (6 for nn.GRU) plus 5-6 bookkeeping entries
MAX_PICKLE_BYTES = 1024 * 1024  # data.pkl only names tensors: a few KB
# torch.save's zip layout: <archive>/data.pkl, data/<n>, version, byteorder and a few dotted records
_ENTRY = re.compile(r"[^/]{1,200}/(data\.pkl|data/\d{1,6}|version|byteorder|\.format_version|\.storage_alignment"
                    r"|\.data/serialization_id|\.data/version)")


def check_zip(data: bytes, name: str, max_bytes: int = MAX_BYTES) -> None:
    """The archive before anything is unpickled: a zip of torch.save's entries, their uncompressed sizes (the
    header's claim and what actually inflates) under the caps, so a small file cannot become a huge tensor."""
    if data[:4] != b"PK\x03\x04":
        raise CheckpointError(f"{name}: not a torch.save file of PyTorch 1.6 or later (a zip); re-save it with "
                              "torch.save in a current PyTorch, or save safetensors and upload that")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise CheckpointError(f"{name}: {len(infos):,} entries in the archive, more than the {MAX_ENTRIES} a "
                                  "GRU's tensors need")
        roots = {i.filename.split("/", 1)[0] for i in infos}
        odd = [i.filename for i in infos if not _ENTRY.fullmatch(i.filename)]
        if odd or len(roots) != 1:
            shown = json.dumps(odd[0][:60]) if odd else "several top folders"
            raise CheckpointError(f"{name}: not torch.save's layout (unexpected entry {shown})")
        if not any(i.filename.endswith("/data.pkl") for i in infos):
            raise CheckpointError(f"{name}: not torch.save's layout (no data.pkl)")
        total = 0
        for info in infos:
            cap = MAX_PICKLE_BYTES if info.filename.endswith("data.pkl") else max_bytes
            total += info.file_size
            if info.file_size > cap or total > max_bytes:
                raise CheckpointError(f"{name}: entry {info.filename.split('/', 1)[1]} unpacks to "
                                      f"{info.file_size:,} bytes ({total:,} so far), more than the {cap:,} allowed")
        for info in infos:  # inflate with the claimed size as the bound: the CRC check catches a lying header
            with archive.open(info) as f:
                while f.read(1 << 20):
                    pass
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{name}: a broken zip archive ({str(exc).splitlines()[0][:100]})") from None


def _tensors(obj: object, name: str) -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """The tensors of a params list or a state dict (optionally {"vocab": [...], ...} beside them), float32."""
    vocab = None
    if isinstance(obj, dict) and isinstance(obj.get("vocab"), list):
        vocab = obj.pop("vocab")
        if not all(isinstance(t, str) for t in vocab):
            raise CheckpointError(f"{name}: the saved vocab must be a list of strings")
    if isinstance(obj, (list, tuple)):
        obj = {str(i): t for i, t in enumerate(obj)}
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{name}: holds a {type(obj).__name__}, not a params list or a state_dict()")
    out = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{name}: entry {json.dumps(str(key)[:40])} is not a named tensor")
        if not value.is_floating_point():
            raise CheckpointError(f"{name}: tensor {key[:40]} is {value.dtype}, not floating point")
        out[key] = value.detach().to("cpu", torch.float32).contiguous()
    return out, vocab


def load_torch_file(data: bytes, name: str = "file") -> tuple[dict[str, torch.Tensor], list[str] | None]:
    """torch.load(weights_only=True, map_location="cpu") after check_zip: CUDA tensors land on the CPU."""
    check_zip(data, name)
    try:
        obj = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception as exc:  # weights_only's UnpicklingError, torch's RuntimeError on a damaged archive, ...
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise CheckpointError(f"{name}: refused by torch.load(weights_only=True): {first[:160]}") from None
    return _tensors(obj, name)


def import_file(path: Path | str, edition: str | None = None) -> tuple[bytes, NotebookModel]:
    """A torch.save file (or a bare safetensors file) from a d2l notebook as our checkpoint's bytes."""
    name = Path(path).name
    data = read_capped(path, MAX_BYTES, "a model file", CheckpointError)
    if data[:4] == b"PK\x03\x04" or data[:2] == b"\x80\x02":
        tensors, vocab = load_torch_file(data, name)
        data = st_save(tensors, metadata={"vocab": json.dumps(vocab)} if vocab else None)
    nb = load_notebook(data, name, edition)
    ckpt = nb.checkpoint
    config = {**ckpt.config, "vocab_edition": nb.edition}
    return checkpoint_bytes(ckpt.model, ckpt.vocab, config, ckpt.history), nb
