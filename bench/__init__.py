"""Benchmarks of the running bot (``make bench``): load, latency, memory, training time, accuracy.

Plain modules run with ``python -m bench.<name>``; none of them is imported by the bot itself.
"""
