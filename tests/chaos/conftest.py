"""pytest setup for the chaos harness: the `chaos` marker selects the runs
that start real brokers in network namespaces (root, minutes); the checker's
unit tests carry no marker and take a second.

    /usr/bin/python3 -m pytest tests/chaos -m "not chaos" -q   # checker unit tests
    /usr/bin/python3 -m pytest tests/chaos -m chaos -q         # the smoke subset (~3 min)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    config.addinivalue_line("markers", "chaos: real fault-injection runs in network namespaces (root, minutes)")
    config.addinivalue_line("markers", "cluster: needs replication; runs only with KEEL_CHAOS_CLUSTER=1")
