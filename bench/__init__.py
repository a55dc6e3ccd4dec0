"""`make bench` / `python -m bench`: throughput, latency, store, memory and start-up figures in one run."""
