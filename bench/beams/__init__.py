"""Beams delivery bench: one publish to U users with a web and an APNs device each, through a real server.

    .venv/bin/python -m bench.beams                      # 1000 users x 2 devices, 3 measured publishes
    .venv/bin/python -m bench.beams --markdown bench/RESULTS.md

See runner.py for what is measured and how.
"""
