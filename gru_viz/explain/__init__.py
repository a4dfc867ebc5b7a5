"""What is computed about a trained model to show it: traces, sampling and perplexity (inference), gradient flow
and memory (analysis), which characters mattered (attribution)."""
