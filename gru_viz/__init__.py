"""gru_viz: d2l's from-scratch GRU with its gates made visible and controllable."""

__version__ = "0.1.0"
