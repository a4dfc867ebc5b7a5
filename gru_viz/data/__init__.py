"""The corpus layer: where a text comes from (sources), how it is read (files), tokenised (vocab) and cut into
minibatches (batches). Every public name is importable from gru_viz.data."""

from gru_viz.data.batches import batches, min_corpus_tokens, seq_data_iter_random, seq_data_iter_sequential
from gru_viz.data.errors import CorpusError
from gru_viz.data.files import MAX_TEXT_BYTES, atomic_write, decode_text, read_capped, read_text_file, size_label
from gru_viz.data.sources import (
    MAX_TIMEMACHINE_BYTES,
    OFFLINE_NAME,
    TIMEMACHINE_FILE,
    TIMEMACHINE_SHA1,
    TIMEMACHINE_URL,
    TM_NAME,
    cache_dir,
    fetch_timemachine,
    install_timemachine,
    load_corpus,
    offline_text,
    sha1_of,
)
from gru_viz.data.vocab import (
    DEFAULT_MAX_TOKENS,
    MAX_VOCAB,
    RAW_COVERAGE,
    RAW_KEEP_ALL,
    TOKENISATIONS,
    UNK,
    UNK_CHAR,
    Corpus,
    Vocab,
    coverage_size,
    default_raw_size,
    make_corpus,
    normalize_raw,
    preprocess,
    visible_char,
)

__all__ = [
    "DEFAULT_MAX_TOKENS", "MAX_TEXT_BYTES", "MAX_TIMEMACHINE_BYTES", "MAX_VOCAB", "OFFLINE_NAME", "RAW_COVERAGE",
    "RAW_KEEP_ALL", "TM_NAME", "TIMEMACHINE_FILE", "TIMEMACHINE_SHA1", "TIMEMACHINE_URL", "TOKENISATIONS", "UNK",
    "UNK_CHAR", "Corpus", "CorpusError", "Vocab", "atomic_write", "batches", "cache_dir", "coverage_size",
    "decode_text", "default_raw_size", "fetch_timemachine", "install_timemachine", "load_corpus", "make_corpus",
    "min_corpus_tokens", "normalize_raw", "offline_text", "preprocess", "read_capped", "read_text_file",
    "seq_data_iter_random", "seq_data_iter_sequential", "sha1_of", "size_label", "visible_char",
]
