"""Models saved in either edition of d2l's notebook (bare safetensors, no metadata) as checkpoints, and back:
tensor names mapped, the vocabulary order recognised by how well each order reads English, 1.0's permuted.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import torch
from safetensors.torch import save as st_save

from gru_viz.checkpoints.checkpoint import (
    ARCHS,
    FORMAT,
    MAX_BYTES,
    MAX_HIDDEN,
    MAX_META_BYTES,
    Checkpoint,
    CheckpointError,
    _bounded_json,
    _short,
    load_checkpoint,
    read_header,
)
from gru_viz.data import UNK, Vocab, preprocess
from gru_viz.explain.inference import text_perplexity
from gru_viz.nets.concise import ARCH as TORCH_ARCH
from gru_viz.nets.concise import TORCH_PARAM_NAMES
from gru_viz.nets.model import PARAM_NAMES

# The zh.d2l.ai edition (the seed's): <unk> first, then by frequency in The Time Machine (this app's order).
SEED_ORDER: tuple[str, ...] = (UNK, " ", *"etainoshrdlmucfwgypbvkxzjq")
# d2l.ai 1.0: sorted(set(...)), so the space, then "<unk>" ("<" sorts before letters), then a-z.
D2L10_ORDER: tuple[str, ...] = (" ", UNK, *"abcdefghijklmnopqrstuvwxyz")
EDITIONS: dict[str, tuple[str, ...]] = {"seed": SEED_ORDER, "d2l-1.0": D2L10_ORDER}
FACTOR = 3.0  # one order must read the passage this many times better (in perplexity) to be chosen

# Written for this project (not from the book): English a character model of either edition has seen the like of.
PASSAGE = (
    "The machine stood in the corner of the room and nobody would touch it. My sister said that it was only an "
    "old clock with too many wheels, but when the evening came she sat beside it and watched the small lamp on "
    "the front of it grow brighter. We talked about the weather, about the garden and about the long road to the "
    "town, and all the time the little hand went round and round without a sound. In the morning the room was "
    "empty, and on the table there was a note that said only that she would be back before the end of the week."
)

_SCRATCH_10 = {(n if n in ("W_hq", "b_q") else "rnn." + n): n for n in PARAM_NAMES}  # the output layer is RNNLM's
_CONCISE = dict(zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), TORCH_PARAM_NAMES[:4]))
# what each layout is, in messages and on the command line (the page has them in both languages)
LAYOUT_LABELS = {"seed_scratch": "seed scratch (get_params' names)", "seed_params": "seed scratch (the params list)",
                 "d2l10_scratch": "d2l 1.0 scratch (GRUScratch in RNNLMScratch)",
                 "seed_concise": "seed concise (RNNModel with nn.GRU)",
                 "d2l10_concise": "d2l 1.0 concise (RNNLM with GRU)",
                 "torch": "nn.GRU and nn.Linear"}
# layout -> (architecture, what the file calls each tensor -> our name)
LAYOUTS: dict[str, tuple[str, dict[str, str]]] = {
    "seed_scratch": ("gru", {n: n for n in PARAM_NAMES}),
    "seed_params": ("gru", {str(i): n for i, n in enumerate(PARAM_NAMES)}),
    "d2l10_scratch": ("gru", _SCRATCH_10),
    "seed_concise": (TORCH_ARCH, {**{"rnn." + k: v for k, v in _CONCISE.items()},
                                             "linear.weight": "linear.weight", "linear.bias": "linear.bias"}),
    "d2l10_concise": (TORCH_ARCH, {**{"rnn.rnn." + k: v for k, v in _CONCISE.items()},
                                             "linear.weight": "linear.weight", "linear.bias": "linear.bias"}),
    "torch": (TORCH_ARCH, {n: n for n in TORCH_PARAM_NAMES}),
}
# which of our tensors index the vocabulary, and along which dimension: permuted when the order changes
VOCAB_DIMS = {"gru": {"W_xz": 0, "W_xr": 0, "W_xh": 0, "W_hq": 1, "b_q": 0},
              TORCH_ARCH: {"weight_ih_l0": 1, "linear.weight": 0, "linear.bias": 0}}
INPUT_WEIGHT = {"gru": "W_xz", TORCH_ARCH: "weight_ih_l0"}

ADD_VOCAB = ("the vocabulary is not in the file; save it as metadata: "
             "import json; from safetensors.torch import save_file  then  "
             "save_file(tensors, 'gru.safetensors', metadata={'vocab': json.dumps(vocab.idx_to_token)})")


class VocabOrderError(CheckpointError):
    """Neither edition's vocabulary order fits clearly: the person may still choose one. `perplexity`: the test
    passage's perplexity in each edition's order (the page says it in the reader's language)."""

    def __init__(self, message: str, perplexity: dict[str, float]):
        super().__init__(message)
        self.perplexity = perplexity


@dataclass
class NotebookModel:
    """A notebook's model as a checkpoint (always in this app's order, `<unk>` first) and how it was read."""

    checkpoint: Checkpoint
    layout: str
    edition: str  # "seed", "d2l-1.0" or "metadata" (the file named its vocabulary)
    perplexity: dict[str, float]  # of PASSAGE under each edition's order; empty when the file named its vocabulary
    chosen: bool  # True when the order was recognised, False when the caller asked for one


def layout_of(names: set[str], name: str) -> tuple[str, str, dict[str, str]]:
    """The layout whose tensor names are exactly `names`; else a refusal naming the closest layout's gaps."""
    for layout, (arch, mapping) in LAYOUTS.items():
        if set(mapping) == names:
            return layout, arch, mapping
    layout, (_, mapping) = max(LAYOUTS.items(), key=lambda kv: len(set(kv[1][1]) & names))
    missing, extra = sorted(set(mapping) - names), sorted(names - set(mapping))
    shown = ", ".join(_short(x, 24) for x in extra[:4]) + (f" and {len(extra) - 4} more" if len(extra) > 4 else "")
    raise CheckpointError(f"{name}: the tensors are no d2l GRU's (closest: {LAYOUT_LABELS[layout]}; missing "
                          f"{', '.join(missing[:4]) or 'none'}{' …' if len(missing) > 4 else ''}; "
                          f"unexpected {shown or 'none'})")


def _file_vocab(meta: dict, name: str) -> list[str] | None:
    """The vocabulary the file names in its metadata (any order, `<unk>` somewhere in it), or None."""
    if "vocab" not in meta:
        return None
    tokens = _bounded_json(meta["vocab"], "the vocabulary", name, MAX_META_BYTES["vocab"])
    if not (isinstance(tokens, list) and all(isinstance(t, str) for t in tokens) and UNK in tokens):
        raise CheckpointError(f"{name}: the vocabulary metadata must be a JSON list of strings with <unk> in it")
    return tokens


def _rebuilt(data: bytes, header: dict, mapping: dict[str, str], meta: dict[str, str]) -> bytes:
    """The same tensor bytes under our names and metadata: only the header is rewritten, nothing is allocated."""
    (n,) = struct.unpack("<Q", data[:8])
    new = {mapping[k]: v for k, v in header.items()}
    new["__metadata__"] = meta
    raw = json.dumps(new, ensure_ascii=True).encode("ascii")
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


def permuted(ckpt: Checkpoint, perm: list[int], vocab: Vocab) -> Checkpoint:
    """The model with its vocabulary reordered: new token j is old token perm[j] (an exact permutation of the
    rows/columns that index the vocabulary; nothing else changes)."""
    arch = getattr(ckpt.model, "arch", "gru")
    index = torch.tensor(perm)
    tensors = {k: v.detach().clone() for k, v in ckpt.model.params().items()}
    for key, dim in VOCAB_DIMS[arch].items():
        tensors[key] = tensors[key].index_select(dim, index).contiguous()
    return Checkpoint(ARCHS[arch][2](tensors), vocab, ckpt.config, ckpt.history, ckpt.meta)


def order_perm(file_order: tuple[str, ...] | list[str], ours: list[str]) -> list[int]:
    """perm[j] = the file's index of our token j."""
    where = {t: i for i, t in enumerate(file_order)}
    return [where[t] for t in ours]


def passage_perplexity(ckpt: Checkpoint) -> float:
    return text_perplexity(ckpt.model, ckpt.vocab.encode(preprocess(PASSAGE)))


def load_notebook(data: bytes, name: str = "upload", edition: str | None = None, *, max_hidden: int = MAX_HIDDEN,
                  max_bytes: int = MAX_BYTES) -> NotebookModel:
    """A bare safetensors file from a d2l notebook as a checkpoint; every check of load_checkpoint applies.

    `edition` None: the vocabulary order is recognised (refused when neither order reads PASSAGE FACTOR times
    better than the other); "seed" or "d2l-1.0": that order is used (the page's switch).
    """
    if len(data) > max_bytes:
        raise CheckpointError(f"{name}: larger than the {max_bytes / 1e6:.0f} MB limit for a checkpoint")
    if edition is not None and edition not in EDITIONS:
        raise CheckpointError(f"{name}: unknown edition {_short(edition)} (expected {' or '.join(EDITIONS)})")
    header, meta = read_header(data, name)
    layout, arch, mapping = layout_of(set(header), name)
    entry = header[next(k for k, v in mapping.items() if v == INPUT_WEIGHT[arch])]
    shape = entry.get("shape") if isinstance(entry, dict) else None
    size = shape[0 if arch == "gru" else 1] if isinstance(shape, list) and len(shape) == 2 else None
    given = _file_vocab(meta, name)
    if given is not None:
        # d2l's 28 characters in any order read in this app's order (the bundled models'); others keep theirs
        ours = list(SEED_ORDER) if sorted(given) == sorted(SEED_ORDER) else [UNK, *(t for t in given if t != UNK)]
        mode = "d2l" if all(t in " abcdefghijklmnopqrstuvwxyz" for t in ours[1:]) else "raw"
        file_orders = {"metadata": given}
    elif size is not None and size != len(SEED_ORDER):  # an unreadable shape: load_checkpoint's checks say why
        raise CheckpointError(f"{name}: a vocabulary of {_short(size)} tokens, not d2l's 28 characters: {ADD_VOCAB}")
    else:
        ours, mode = list(SEED_ORDER), "d2l"
        file_orders = dict(EDITIONS)  # both are scored, also when the caller chose one: the page shows both
    new_meta = {"format": FORMAT, "arch": arch, "tokens": mode, "vocab": json.dumps(ours),
                "config": json.dumps({"source": "d2l notebook", "layout": layout})}
    base = load_checkpoint(_rebuilt(data, header, mapping, new_meta), name, max_hidden=max_hidden,
                           max_bytes=max_bytes + MAX_META_BYTES["vocab"] + 4096)  # + our metadata
    vocab = base.vocab
    candidates = {e: permuted(base, order_perm(order, ours), vocab) for e, order in file_orders.items()}
    if given is not None:
        return NotebookModel(candidates["metadata"], layout, "metadata", {}, False)
    ppl = {e: passage_perplexity(c) for e, c in candidates.items()}
    if edition is not None:
        return NotebookModel(candidates[edition], layout, edition, ppl, False)
    best, other = sorted(ppl, key=ppl.get)
    if not ppl[other] >= FACTOR * ppl[best]:
        raise VocabOrderError(
            f"{name}: cannot tell which edition's vocabulary order the model uses: it reads an English test passage "
            f"with perplexity {ppl['seed']:.1f} in the seed's order and {ppl['d2l-1.0']:.1f} in d2l 1.0's "
            f"(one must be {FACTOR:g}x better; an untrained model reads both alike); choose the edition, or "
            f"{ADD_VOCAB}", ppl)
    return NotebookModel(candidates[best], layout, best, ppl, True)


def load_any(data: bytes, name: str = "upload", edition: str | None = None, *, max_hidden: int = MAX_HIDDEN,
             max_bytes: int = MAX_BYTES) -> tuple[Checkpoint, NotebookModel | None]:
    """An upload: a gru_viz checkpoint as it is, or else a bare notebook file (load_notebook, `edition` as there)."""
    _, meta = read_header(data, name)
    if meta.get("format") == FORMAT or "format" in meta:  # ours, or one that claims a format: the usual checks
        return load_checkpoint(data, name, max_hidden=max_hidden, max_bytes=max_bytes), None
    nb = load_notebook(data, name, edition, max_hidden=max_hidden, max_bytes=max_bytes)
    return nb.checkpoint, nb


def notebook_bytes(ckpt: Checkpoint, edition: str, layout: str | None = None) -> bytes:
    """The checkpoint as a bare file for `edition`'s notebook: its tensor names (scratch or concise, as the model
    is), its vocabulary order (d2l 1.0's alphabetical one is permuted back), the vocabulary as metadata."""
    arch = getattr(ckpt.model, "arch", "gru")
    if arch not in VOCAB_DIMS:
        raise CheckpointError("only GRUs go to a notebook (the plain RNN is the previous chapter's model)")
    if edition not in EDITIONS:
        raise CheckpointError(f"unknown edition {_short(edition)} (expected {' or '.join(EDITIONS)})")
    ours = ckpt.vocab.idx_to_token
    order = list(EDITIONS[edition]) if set(ours) == set(SEED_ORDER) else ours  # other vocabularies keep ours
    perm = order_perm(ours, order)
    out = permuted(ckpt, perm, ckpt.vocab).model.params()  # the Vocab here is a placeholder: only tensors are used
    wanted = layout or {("gru", "seed"): "seed_scratch",
                        ("gru", "d2l-1.0"): "d2l10_scratch",
                        (TORCH_ARCH, "seed"): "seed_concise",
                        (TORCH_ARCH, "d2l-1.0"): "d2l10_concise"}[(arch, edition)]
    mapping = LAYOUTS[wanted][1]
    tensors = {k: out[v].detach().to("cpu", torch.float32).contiguous() for k, v in mapping.items()}
    return st_save(tensors, metadata={"vocab": json.dumps(order)})
