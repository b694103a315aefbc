"""The push outbox's driver side: keeping what the outbox provider renders (keeper.py), and the one JSON shape
the CLI and the HTTP endpoint show it in (view.py). The rendering is a provider plug-in (providers/outbox)."""
