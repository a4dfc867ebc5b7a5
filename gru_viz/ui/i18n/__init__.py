"""The app's strings, one module per language (en.py, zh.py); gru_viz.ui.strings looks them up."""
