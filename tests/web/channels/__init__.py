"""The web layer against a whole server in the test process: the Channels HTTP API and WebSocket endpoint."""
