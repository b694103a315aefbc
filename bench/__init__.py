"""Reproducible benchmarks for Tidings (see bench/README.md)."""
