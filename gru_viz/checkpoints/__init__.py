"""Models on disk: this app's safetensors checkpoints (checkpoint), either d2l notebook edition's files
(notebook) and torch.save files brought in by the CLI alone (torch_import)."""
