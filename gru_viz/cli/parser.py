"""The command line's grammar: every command with its flags, defaults from TrainConfig and bounds from LIMITS."""

from __future__ import annotations

import argparse

from gru_viz.cli.args import (
    SEED,
    Parser,
    epoch_list,
    gate,
    in_file,
    int_in,
    library,
    limit,
    out_dir,
    out_file,
    strength,
    vocab_sizes,
)
from gru_viz.data import MAX_VOCAB, TOKENISATIONS
from gru_viz.train import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = Parser(prog="python -m gru_viz", description="d2l's scratch GRU: train, trace, sample, benchmark.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("train", help="train the scratch GRU with d2l's train_ch8")
    t.add_argument("--arch", default="gru", choices=["gru", "rnn"],
                   help="gru (this chapter) or rnn: the previous chapter's plain rnn_scratch (textbook engine only)")
    t.add_argument("--hidden", type=limit("hidden"), default=d.hidden)
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--epochs", type=limit("epochs"), default=d.epochs)
    t.add_argument("--batch-size", type=limit("batch_size"), default=d.batch_size)
    t.add_argument("--num-steps", type=limit("num_steps"), default=d.num_steps)
    t.add_argument("--clip", type=float, default=d.clip, help="gradient clipping θ (global norm)")
    t.add_argument("--max-tokens", type=int, default=d.max_tokens, help="truncate the corpus (<=0: all)")
    t.add_argument("--random-iter", action="store_true", help="random sampling instead of sequential")
    t.add_argument("--seed", type=SEED, default=d.seed)
    t.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda", "mps"])
    t.add_argument("--engine", default=d.engine, choices=["textbook", "fast"])
    t.add_argument("--corpus", default="timemachine", help="timemachine (default), offline, or a path to a .txt")
    t.add_argument("--tokens", default="d2l", choices=TOKENISATIONS,
                   help="d2l (default): lowercase letters and spaces, as the chapter; raw: every character "
                        "(case, digits, punctuation, newlines, any script)")
    t.add_argument("--max-vocab", type=int_in(2, MAX_VOCAB), default=None, metavar="N",
                   help="raw tokens: the N-1 most frequent characters plus <unk> (default: those covering 99.5 %% "
                        "of the text)")
    t.add_argument("--force-r", type=gate, default=None, metavar="V", help="train with the reset gate held at V")
    t.add_argument("--force-z", type=gate, default=None, metavar="V", help="train with the update gate held at V")
    t.add_argument("--strength", type=strength, default=1.0, metavar="S",
                   help="blend each forced gate: (1 − S)·free + S·forced (1: held, the default; 0: free)")
    t.add_argument("--out", type=out_file, default=None, metavar="CKPT.safetensors")
    t.add_argument("--snapshots", type=out_dir, default=None, metavar="DIR",
                   help="also save the snapshots kept along the way (epochs 1, 5, 10, 20, 50, ...) here")
    t.add_argument("--snapshot-epochs", type=epoch_list, default=None, metavar="E1,E2,…",
                   help="which epochs --snapshots keeps (default 1,5,10,20,50,100,250,500; the last is always kept)")
    t.add_argument("--prefix", default=None,
                   help="where the sample starts (default: d2l's 'time traveller', or the corpus's first words for "
                        "--tokens raw)")
    t.add_argument("--json", action="store_true", help="end stdout with one JSON object of the results")

    tr = sub.add_parser("trace", help="record R, Z, H̃, H and logits over a text into an .npz")
    tr.add_argument("--checkpoint", type=in_file, required=True)
    tr.add_argument("--text", required=True)
    tr.add_argument("--force-r", type=gate, default=None, metavar="V")
    tr.add_argument("--force-z", type=gate, default=None, metavar="V")
    tr.add_argument("--strength", type=strength, default=1.0, metavar="S",
                   help="blend each forced gate: (1 − S)·free + S·forced (1: held, the default; 0: free)")
    tr.add_argument("--out", type=out_file, required=True, metavar="OUT.npz")

    s = sub.add_parser("sample", help="continue a prefix (greedy, or sampled with --temperature)")
    s.add_argument("--checkpoint", type=in_file, required=True)
    s.add_argument("--prefix", default=None,
                   help="default: the prefix stored at training, else 'time traveller' (d2l) or the vocabulary's "
                        "most frequent character (raw)")
    s.add_argument("--n", type=int_in(0, 100_000), default=50)
    s.add_argument("--temperature", type=float, default=0.0)
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--force-r", type=gate, default=None, metavar="V")
    s.add_argument("--force-z", type=gate, default=None, metavar="V")
    s.add_argument("--strength", type=strength, default=1.0, metavar="S",
                   help="blend each forced gate: (1 − S)·free + S·forced (1: held, the default; 0: free)")

    f = sub.add_parser("fetch", help="download The Time Machine into the cache, or install a local copy")
    f.add_argument("--from", dest="source", type=in_file, default=None, metavar="FILE",
                   help="a local copy (checked against the book's SHA-1; at most 5 MB are read)")

    im = sub.add_parser("import", help="a model saved in a d2l notebook (torch.save: the params list or a "
                        "state_dict(), scratch or concise; or a bare .safetensors) as a checkpoint")
    im.add_argument("file", type=in_file, metavar="FILE")
    im.add_argument("--out", type=out_file, default=None, metavar="CKPT.safetensors",
                    help="default: FILE with the suffix .safetensors (FILE.gru_viz.safetensors if that is FILE)")
    im.add_argument("--vocab-edition", choices=["seed", "d2l-1.0"], default=None,
                    help="the vocabulary order (default: recognised by how well each order reads English)")

    ex = sub.add_parser("export", help="a checkpoint as a bare file for a d2l notebook (its names, its order)")
    ex.add_argument("checkpoint", type=in_file, metavar="CKPT")
    ex.add_argument("--edition", choices=["seed", "d2l-1.0"], required=True)
    ex.add_argument("--out", type=out_file, required=True, metavar="OUT.safetensors")

    sub.add_parser("build-ext", help="compile the fast path's C++ kernel now (the app otherwise builds it in the "
                   "background, and uses the PyTorch fallback until it is ready)")

    b = sub.add_parser("bench", help="textbook vs fast path vs torch.nn.GRU, side by side")
    b.add_argument("--epochs", type=int_in(1, 1000), default=3, help="epochs per repetition")
    b.add_argument("--reps", type=int_in(1, 100), default=3)
    b.add_argument("--hidden", type=limit("hidden"), default=d.hidden)
    b.add_argument("--corpus", default="timemachine")
    b.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])
    b.add_argument("--vocab-sizes", type=vocab_sizes, default=None, metavar="V1,V2,…",
                   help="compare the training paths at these vocabulary sizes (e.g. 28,100,3000: raw characters)")
    b.add_argument("--compare-ext", type=library, default=None, metavar="KERNEL.so",
                   help="also time another build of the C++ kernel (e.g. the main checkout's) beside this one")
    b.add_argument("--json", action="store_true")
    return p

