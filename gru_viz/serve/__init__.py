"""The serving wing: training runs in background threads, the run queue and memory budget, class mode's store."""
