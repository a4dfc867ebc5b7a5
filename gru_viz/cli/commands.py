"""What each command of `python -m gru_viz` does once its arguments are checked: train, trace, sample, import,
export, fetch, build-ext, bench."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from gru_viz.checkpoints.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from gru_viz.cli.args import UsageError
from gru_viz.data import atomic_write, install_timemachine, load_corpus, read_capped
from gru_viz.explain.inference import PREFIX, corpus_prefix, predict, trace_text
from gru_viz.nets.model import Forcing
from gru_viz.nets.rnn import new_model
from gru_viz.train import ConfigError, EpochReport, RunStatus, TrainConfig, Trainer, history_dicts


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
    prefix = a.prefix if a.prefix is not None else corpus_prefix(corpus)
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
    from gru_viz.checkpoints.checkpoint import MAX_BYTES
    from gru_viz.checkpoints.notebook import load_any

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
    from gru_viz.checkpoints.torch_import import import_file

    src = Path(a.file)
    out = a.out or src.with_suffix(".safetensors")
    if out.resolve() == src.resolve():
        out = src.with_name(src.stem + ".gru_viz.safetensors")
    data, nb = import_file(src, a.vocab_edition)
    atomic_write(out, data)
    how = ", ".join(f"{e} {p:.1f}" for e, p in nb.perplexity.items())
    chosen = "recognised" if nb.chosen else "as given"
    from gru_viz.checkpoints.notebook import LAYOUT_LABELS

    print(f"{LAYOUT_LABELS[nb.layout]}, hidden {nb.checkpoint.model.hidden}, vocabulary order {nb.edition} ({chosen}"
          f"{'; test-passage perplexity ' + how if how else ''}) -> {out}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from gru_viz.checkpoints.notebook import notebook_bytes

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
