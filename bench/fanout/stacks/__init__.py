"""Minimal Pusher fan-out servers on candidate HTTP/WebSocket stacks, measured against the floor."""
