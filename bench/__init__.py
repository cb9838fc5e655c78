"""Throughput and latency of submit, get and search against a real `pressline serve`.

Run ``python -m bench.run --help``; bench/README.md explains the scenarios and output.
"""
