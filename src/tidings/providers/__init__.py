"""Push gateways: Web Push, APNs and FCM behind one interface (see base.py), plus a stub for development."""
