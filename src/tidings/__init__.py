"""Tidings: a self-hosted server for the Pusher Channels and Beams wire protocols."""

__version__ = "0.1.0"
