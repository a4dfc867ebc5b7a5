"""d2l's two minibatch iterators (seq_data_iter_sequential / seq_data_iter_random) and the check that a corpus
is long enough to give one minibatch."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch

from gru_viz.data.errors import CorpusError


def min_corpus_tokens(batch_size: int, num_steps: int) -> int:
    """Fewest tokens for which both iterators yield at least one minibatch whatever their random offset."""
    return batch_size * num_steps + num_steps + 1


def seq_data_iter_sequential(
    corpus: Sequence[int], batch_size: int, num_steps: int, rng: random.Random
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Adjacent minibatches continue each other row by row, so the state can be carried across them."""
    offset = rng.randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    xs = torch.tensor(corpus[offset : offset + num_tokens]).reshape(batch_size, -1)
    ys = torch.tensor(corpus[offset + 1 : offset + 1 + num_tokens]).reshape(batch_size, -1)
    num_batches = xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        yield xs[:, i : i + num_steps], ys[:, i : i + num_steps]  # (batch, steps) each


def seq_data_iter_random(
    corpus: Sequence[int], batch_size: int, num_steps: int, rng: random.Random
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Random, non-overlapping subsequences; no relation between minibatches, so the state restarts."""
    corpus = corpus[rng.randint(0, num_steps - 1) :]
    num_subseqs = (len(corpus) - 1) // num_steps
    starts = list(range(0, num_subseqs * num_steps, num_steps))
    rng.shuffle(starts)
    num_batches = num_subseqs // batch_size
    for i in range(0, batch_size * num_batches, batch_size):
        batch = starts[i : i + batch_size]
        xs = [corpus[j : j + num_steps] for j in batch]
        ys = [corpus[j + 1 : j + 1 + num_steps] for j in batch]
        yield torch.tensor(xs), torch.tensor(ys)


def batches(
    corpus: Sequence[int], batch_size: int, num_steps: int, random_iter: bool, rng: random.Random
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of minibatches; refuses corpora too short to give any (d2l silently yields none)."""
    need = min_corpus_tokens(batch_size, num_steps)
    if len(corpus) < need:
        raise CorpusError(
            f"the corpus has {len(corpus)} tokens; batch size {batch_size} × {num_steps} steps needs at least {need}"
        )
    make = seq_data_iter_random if random_iter else seq_data_iter_sequential
    return make(corpus, batch_size, num_steps, rng)
