"""In-process emulators of the push gateways, for provider and delivery tests."""
