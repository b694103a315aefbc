"""bench.fanout: N subscribers on one channel, K events triggered through the HTTP API.

Run ``python -m bench.fanout --help`` from the repository root (or ``bench/fanout/run``).
"""
