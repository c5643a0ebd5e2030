"""The container smoke test runs after every other test of the session.

It cannot disturb the lab tests' root-namespace check by design (the dockerd it starts has no bridge,
no iptables rules and leaves ip_forward alone; builds use the host's network, the run none), and
runs last anyway: it builds an image for minutes, and a Docker engine someone else started may well
add links of its own."""

from __future__ import annotations


def pytest_collection_modifyitems(session, config, items):
    mine = [i for i in items if i.nodeid.startswith("tests/container/")]
    if mine:
        items[:] = [i for i in items if i not in mine] + mine
