"""What an ended training run keeps in memory: resident memory held by a finished Trainer against
gru_viz.serve.kept.kept_run_bytes (docs/LOADTEST.md, "What an ended run keeps"). Usage: python tools/kept_memory.py"""

from __future__ import annotations

import gc
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from gru_viz.serve.budget import MB, param_count, process_rss, release_memory  # noqa: E402
from gru_viz.serve.kept import kept_run_bytes  # noqa: E402
from gru_viz.train import TrainConfig, Trainer, snapshot_epochs  # noqa: E402

CASES = [(4000, 512, 1, "fast"), (4000, 512, 10, "fast"), (28, 256, 10, "textbook"), (1000, 256, 3, "fast"),
         (28, 512, 10, "fast")]


def main() -> None:
    torch.set_num_threads(1)
    print("| V | hidden | epochs | engine | snapshots | held MB | 4·P·(2+S) MB | kept_run_bytes MB |")
    print("|---|---|---|---|---|---|---|---|")
    for vocab, hidden, epochs, engine in CASES:
        tokens = [random.randrange(vocab) for _ in range(100)]  # a paste of `vocab` distinct characters
        cfg = TrainConfig(hidden=hidden, epochs=epochs, batch_size=1, num_steps=1, engine=engine)
        gc.collect()
        release_memory()
        before = process_rss()
        t = Trainer(tokens, vocab, cfg, snapshot_epochs=snapshot_epochs(epochs, 8))
        t.run()
        gc.collect()
        release_memory()
        held = process_rss() - before
        s = len(t.snapshots)
        print(f"| {vocab} | {hidden} | {epochs} | {engine} | {s} | {held / MB:.1f} | "
              f"{4 * param_count(hidden, vocab) * (2 + s) / MB:.1f} | {kept_run_bytes(hidden, vocab, s) / MB:.1f} |")
        del t


if __name__ == "__main__":
    main()
