"""The networks: d2l's from-scratch GRU (model), the plain RNN it degrades to (rnn), the concise nn.GRU (concise)
and what their hand-written backwards share (backward)."""
