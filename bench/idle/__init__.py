"""Idle memory per subscribed WebSocket connection, and connects per second (``python -m bench.idle``)."""
