"""`python -m gru_viz train|trace|sample|fetch|bench|import|export`: for instructors who precompute models, for
notebook users bringing their own, and for tests."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from gru_viz.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from gru_viz.data import (
    MAX_VOCAB,
    TOKENISATIONS,
    CorpusError,
    atomic_write,
    install_timemachine,
    load_corpus,
    read_capped,
)
from gru_viz.inference import PREFIX, opening_words, predict, trace_text
from gru_viz.model import Forcing, ForcingError
from gru_viz.rnn import new_model
from gru_viz.train import LIMITS, ConfigError, EpochReport, RunStatus, TrainConfig, Trainer, history_dicts

USER_ERRORS = (CorpusError, CheckpointError, ConfigError, ForcingError, ValueError, OSError)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as for every other bad input
        raise UsageError(message)


def _gate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"a gate value must lie in [0, 1], got {text}")
    return value


def _strength(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"a forcing strength must lie in [0, 1], got {text}")
    return value


def _int_in(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi]; argparse names the flag in front of the message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer from {lo} to {hi}, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer from {lo} to {hi}, got {text}")
        return value

    return parse


def _limit(name: str):
    return _int_in(*LIMITS[name])


SEED = _int_in(0, 2**32 - 1)  # torch.Generator takes 64 bits; 32 are plenty and easy to state


def _in_file(text: str) -> str:
    """A file to read; only emptiness is checked here (reading it says what else is wrong, with its cap)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file, got an empty string")
    return text


def _out_file(text: str) -> Path:
    """An output file whose directory exists: nothing is created silently, and a typo fails before training."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a file, got an empty string")
    path = Path(text)
    if text.endswith(("/", "\\")) or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; name a file in it")
    if path.exists() and not path.is_file():  # a FIFO opened for writing waits for a reader: refuse it now
        raise argparse.ArgumentTypeError(f"{text} exists and is not a regular file (a named pipe or a device?)")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {path.parent} does not exist (create it first)")
    return path


_LIBRARY_MAGIC = (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"MZ")  # ELF, Mach-O (64, fat), PE


def _library(text: str) -> str:
    """A compiled extension to load: a regular file that starts like a shared library (read without blocking)."""
    head = read_capped(_in_file(text), 64 * 2**20, "a compiled kernel", argparse.ArgumentTypeError)[:4]
    if not head.startswith(_LIBRARY_MAGIC):
        raise argparse.ArgumentTypeError(f"{text} is not a compiled library (no ELF, Mach-O or PE header)")
    return text


def _out_dir(text: str) -> Path:
    """A directory to write into: it may be new, but its parent must exist."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a directory, got an empty string")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {path.parent} does not exist (create it first)")
    return path


def _epochs(text: str) -> tuple[int, ...]:
    try:
        epochs = tuple(sorted({int(e) for e in text.split(",") if e.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of epochs") from None
    if not epochs or epochs[0] < 0:
        raise argparse.ArgumentTypeError("snapshot epochs must be integers >= 0 (0 keeps the initialisation)")
    return epochs


def _sizes(text: str) -> tuple[int, ...]:
    parse = _int_in(2, MAX_VOCAB)
    sizes = tuple(parse(v.strip()) for v in text.split(",") if v.strip())
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one vocabulary size, e.g. 28,100,3000")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = _Parser(prog="python -m gru_viz", description="d2l's scratch GRU: train, trace, sample, benchmark.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train the scratch GRU with d2l's train_ch8")
    t.add_argument("--arch", default="gru", choices=["gru", "rnn"],
                   help="gru (this chapter) or rnn: the previous chapter's plain rnn_scratch (textbook engine only)")
    t.add_argument("--hidden", type=_limit("hidden"), default=d.hidden)
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--epochs", type=_limit("epochs"), default=d.epochs)
    t.add_argument("--batch-size", type=_limit("batch_size"), default=d.batch_size)
    t.add_argument("--num-steps", type=_limit("num_steps"), default=d.num_steps)
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
    t.add_argument("--max-vocab", type=_int_in(2, MAX_VOCAB), default=None, metavar="N",
                   help="raw tokens: the N-1 most frequent characters plus <unk> (default: those covering 99.5 %% "
                        "of the text)")
    t.add_argument("--force-r", type=_gate, default=None, metavar="V", help="train with the reset gate held at V")
    t.add_argument("--force-z", type=_gate, default=None, metavar="V", help="train with the update gate held at V")
    t.add_argument("--strength", type=_strength, default=1.0, metavar="S",
                   help="blend each forced gate: (1 − S)·free + S·forced (1: held, the default; 0: free)")
    t.add_argument("--out", type=_out_file, default=None, metavar="CKPT.safetensors")
    t.add_argument("--snapshots", type=_out_dir, default=None, metavar="DIR",
                   help="also save the snapshots kept along the way (epochs 1, 5, 10, 20, 50, ...) here")
    t.add_argument("--snapshot-epochs", type=_epochs, default=None, metavar="E1,E2,…",
                   help="which epochs --snapshots keeps (default 1,5,10,20,50,100,250,500; the last is always kept)")
    t.add_argument("--prefix", default=None,
                   help="where the sample starts (default: d2l's 'time traveller', or the corpus's first words for "
                        "--tokens raw)")
    t.add_argument("--json", action="store_true", help="end stdout with one JSON object of the results")

    tr = sub.add_parser("trace", help="record R, Z, H̃, H and logits over a text into an .npz")
    tr.add_argument("--checkpoint", type=_in_file, required=True)
    tr.add_argument("--text", required=True)
    tr.add_argument("--force-r", type=_gate, default=None, metavar="V")
    tr.add_argument("--force-z", type=_gate, default=None, metavar="V")
    tr.add_argument("--strength", type=_strength, default=1.0, metavar="S",
                   help="blend each forced gate: (1 − S)·free + S·forced (1: held, the default; 0: free)")
    tr.add_argument("--out", type=_out_file, required=True, metavar="OUT.npz")

    s = sub.add_parser("sample", help="continue a prefix (greedy, or sampled with --temperature)")
    s.add_argument("--checkpoint", type=_in_file, required=True)
    s.add_argument("--prefix", default=None,
                   help="default: the prefix stored at training, else 'time traveller' (d2l) or the vocabulary's "
                        "most frequent character (raw)")
    s.add_argument("--n", type=_int_in(0, 100_000), default=50)
    s.add_argument("--temperature", type=float, default=0.0)
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--force-r", type=_gate, default=None, metavar="V")
    s.add_argument("--force-z", type=_gate, default=None, metavar="V")
    s.add_argument("--strength", type=_strength, default=1.0, metavar="S",
                   help="blend each forced gate: (1 − S)·free + S·forced (1: held, the default; 0: free)")

    f = sub.add_parser("fetch", help="download The Time Machine into the cache, or install a local copy")
    f.add_argument("--from", dest="source", type=_in_file, default=None, metavar="FILE",
                   help="a local copy (checked against the book's SHA-1; at most 5 MB are read)")

    im = sub.add_parser("import", help="a model saved in a d2l notebook (torch.save: the params list or a "
                        "state_dict(), scratch or concise; or a bare .safetensors) as a checkpoint")
    im.add_argument("file", type=_in_file, metavar="FILE")
    im.add_argument("--out", type=_out_file, default=None, metavar="CKPT.safetensors",
                    help="default: FILE with the suffix .safetensors (FILE.gru_viz.safetensors if that is FILE)")
    im.add_argument("--vocab-edition", choices=["seed", "d2l-1.0"], default=None,
                    help="the vocabulary order (default: recognised by how well each order reads English)")

    ex = sub.add_parser("export", help="a checkpoint as a bare file for a d2l notebook (its names, its order)")
    ex.add_argument("checkpoint", type=_in_file, metavar="CKPT")
    ex.add_argument("--edition", choices=["seed", "d2l-1.0"], required=True)
    ex.add_argument("--out", type=_out_file, required=True, metavar="OUT.safetensors")

    sub.add_parser("build-ext", help="compile the fast path's C++ kernel now (the app otherwise builds it in the "
                   "background, and uses the PyTorch fallback until it is ready)")

    b = sub.add_parser("bench", help="textbook vs fast path vs torch.nn.GRU, side by side")
    b.add_argument("--epochs", type=_int_in(1, 1000), default=3, help="epochs per repetition")
    b.add_argument("--reps", type=_int_in(1, 100), default=3)
    b.add_argument("--hidden", type=_limit("hidden"), default=d.hidden)
    b.add_argument("--corpus", default="timemachine")
    b.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"])
    b.add_argument("--vocab-sizes", type=_sizes, default=None, metavar="V1,V2,…",
                   help="compare the training paths at these vocabulary sizes (e.g. 28,100,3000: raw characters)")
    b.add_argument("--compare-ext", type=_library, default=None, metavar="KERNEL.so",
                   help="also time another build of the C++ kernel (e.g. the main checkout's) beside this one")
    b.add_argument("--json", action="store_true")
    return p


def _progress(report: EpochReport) -> None:
    width = 30
    done = int(width * report.epoch / report.epochs)
    left = report.elapsed / report.epoch * (report.epochs - report.epoch)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] epoch {report.epoch}/{report.epochs} "
                     f"perplexity {report.perplexity:.2f} {report.tokens_per_sec:,.0f} tok/s ~{left:.0f}s left ")
    sys.stderr.flush()
    if report.epoch == report.epochs:
        sys.stderr.write("\n")


def cmd_train(a: argparse.Namespace) -> int:
    if a.max_vocab is not None and a.tokens != "raw":
        raise UsageError("--max-vocab applies to --tokens raw (d2l's vocabulary is every letter and the space)")
    corpus = load_corpus(a.corpus, a.max_tokens, tokens=a.tokens, max_vocab=a.max_vocab)
    cfg = TrainConfig(hidden=a.hidden, lr=a.lr, epochs=a.epochs, batch_size=a.batch_size, num_steps=a.num_steps,
                      clip=a.clip, max_tokens=a.max_tokens, random_iter=a.random_iter, seed=a.seed, device=a.device,
                      forcing=_forcing(a), engine=a.engine)
    extra = {"snapshot_epochs": a.snapshot_epochs} if a.snapshot_epochs else {}
    if a.snapshots:
        a.snapshots.mkdir(exist_ok=True)  # the directory the user named; its parent was checked to exist
    trainer = Trainer(corpus.tokens, len(corpus.vocab), cfg, callback=_progress if sys.stderr.isatty() else None,
                      model=new_model(a.arch, len(corpus.vocab), cfg.hidden, cfg.seed), **extra)
    start = time.perf_counter()
    trainer.run()
    wall = time.perf_counter() - start
    if trainer.status == RunStatus.DIVERGED:
        raise ConfigError(trainer.message)
    model, last = trainer.model, trainer.history[-1]
    model.cpu()
    prefix = a.prefix if a.prefix is not None else (PREFIX if a.tokens == "d2l" else opening_words(corpus.text))
    sample = predict(prefix, 50, model, corpus.vocab, cfg.forcing)
    tps = last.tokens / wall  # cumulative tokens over the whole run
    meta = {"corpus": corpus.name, "wall_seconds": round(wall, 2), "tokens": a.tokens, "prefix": prefix,
            "vocab_coverage": round(corpus.coverage, 5)}
    if a.out:
        save_checkpoint(a.out, model, corpus.vocab, {**cfg.to_dict(), **meta}, history_dicts(trainer.history))
    if a.snapshots:
        for epoch, params in sorted(trainer.snapshots.items()):
            save_checkpoint(a.snapshots / f"epoch_{epoch:04d}.safetensors", params, corpus.vocab,
                            {**cfg.to_dict(), **meta, "epoch": epoch},
                            history_dicts(h for h in trainer.history if h.epoch <= epoch))
    result = {"perplexity": last.perplexity, "tokens_per_sec": tps, "device": str(trainer.device),
              "epochs": last.epoch, "wall_seconds": wall, "engine": cfg.engine, "corpus": corpus.name,
              "sample": sample, "checkpoint": str(a.out) if a.out else None, "tokens": a.tokens,
              "vocab_size": len(corpus.vocab), "train_tokens_per_sec": last.tokens / last.elapsed}
    if trainer.loops is not None:  # the fast engine's loops, named as the app's sidebar and the bench name them
        result |= {"loops": trainer.loops.loops, "loops_reason": trainer.loops.reason}
        print(f"fast path loops: {trainer.loops.reason}")
    print(f"perplexity {last.perplexity:.3f}, {tps:,.0f} tokens/sec on {trainer.device} ({cfg.engine}), "
          f"{last.epoch} epochs in {wall:.1f} s")
    print(sample)
    if a.json:
        print(json.dumps(result))
    return 0


def _forcing(a: argparse.Namespace) -> Forcing:
    return Forcing.gates(r=a.force_r, z=a.force_z, strength=a.strength)


def _load_model(path: str):
    """A checkpoint, or a bare safetensors file saved in a d2l notebook (its vocabulary order recognised)."""
    from gru_viz.checkpoint import MAX_BYTES
    from gru_viz.data import read_capped
    from gru_viz.notebook import load_any

    return load_any(read_capped(path, MAX_BYTES, "a checkpoint", CheckpointError), path)[0]


def cmd_trace(a: argparse.Namespace) -> int:
    ckpt = _load_model(a.checkpoint)
    tr = trace_text(ckpt.model, ckpt.vocab, a.text, _forcing(a))
    out = a.out if a.out.suffix == ".npz" else a.out.with_name(a.out.name + ".npz")  # as np.savez names it
    atomic_write(out, tr.npz_bytes())  # replaces whatever is there (a FIFO would block an open for writing)
    print(f"{len(tr.tokens)} steps, hidden {tr.H.shape[1]} -> {out}")
    return 0


def sample_prefix(given: str | None, ckpt: Checkpoint) -> str:
    """The prefix `sample` starts from: the one given; else the one stored when the model was trained; else d2l's
    for a d2l vocabulary, or a raw vocabulary's most frequent character (never English for a model of other text)."""
    if given is not None:
        return given
    stored = ckpt.config.get("prefix") if isinstance(ckpt.config, dict) else None
    if isinstance(stored, str) and stored:
        return stored
    if ckpt.vocab.mode == "raw" and len(ckpt.vocab) > 1:
        return ckpt.vocab.idx_to_token[1]
    return PREFIX


def cmd_sample(a: argparse.Namespace) -> int:
    import torch

    if not (math.isfinite(a.temperature) and a.temperature >= 0):
        raise ValueError(f"--temperature must be >= 0, got {a.temperature}")
    ckpt = _load_model(a.checkpoint)
    gen = torch.Generator().manual_seed(a.seed)
    print(predict(sample_prefix(a.prefix, ckpt), a.n, ckpt.model, ckpt.vocab, _forcing(a), a.temperature, gen))
    return 0


def cmd_import(a: argparse.Namespace) -> int:
    from gru_viz.torch_import import import_file

    src = Path(a.file)
    out = a.out or src.with_suffix(".safetensors")
    if out.resolve() == src.resolve():
        out = src.with_name(src.stem + ".gru_viz.safetensors")
    data, nb = import_file(src, a.vocab_edition)
    atomic_write(out, data)
    how = ", ".join(f"{e} {p:.1f}" for e, p in nb.perplexity.items())
    chosen = "recognised" if nb.chosen else "as given"
    from gru_viz.notebook import LAYOUT_LABELS

    print(f"{LAYOUT_LABELS[nb.layout]}, hidden {nb.checkpoint.model.hidden}, vocabulary order {nb.edition} ({chosen}"
          f"{'; test-passage perplexity ' + how if how else ''}) -> {out}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from gru_viz.notebook import notebook_bytes

    atomic_write(a.out, notebook_bytes(load_checkpoint(a.checkpoint), a.edition))
    print(f"{a.edition} notebook file -> {a.out}")
    return 0


def cmd_fetch(a: argparse.Namespace) -> int:
    from gru_viz.data import TIMEMACHINE_FILE, cache_dir, fetch_timemachine

    if a.source is not None:
        print(f"installed {install_timemachine(a.source)}")
    else:
        fetch_timemachine()
        print(f"cached {cache_dir() / TIMEMACHINE_FILE}")
    return 0


def cmd_build_ext(a: argparse.Namespace) -> int:
    from gru_viz.fast import build_extension
    from gru_viz.fast.ext import ExtensionBuildError

    try:
        print(f"built {build_extension()}")
    except ExtensionBuildError as exc:  # no compiler, or a compile error: the PyTorch fallback still works
        raise ValueError(f"could not build the C++ kernel ({exc}); training uses the PyTorch fallback") from None
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from gru_viz.bench import run_bench, run_vocab_bench

    try:
        return run_vocab_bench(a) if a.vocab_sizes else run_bench(a)
    except ImportError as exc:  # --compare-ext: a library, but not a Python extension (or built for another one)
        raise ValueError(f"{a.compare_ext}: cannot be loaded as the C++ kernel ({exc})") from None


def main(argv: list[str] | None = None) -> int:
    try:
        a = build_parser().parse_args(argv)
        return {"train": cmd_train, "trace": cmd_trace, "sample": cmd_sample, "fetch": cmd_fetch,
                "bench": cmd_bench, "build-ext": cmd_build_ext,
                "import": cmd_import, "export": cmd_export}[a.command](a)
    except UsageError as exc:
        print(f"gru_viz: error: {exc}", file=sys.stderr)
        return 2
    except USER_ERRORS as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"gru_viz: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gru_viz: interrupted", file=sys.stderr)
        return 130
