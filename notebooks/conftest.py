"""nbval runs the chapters against one embedded lab of their own, always torn down at the end.

The chapters call `kanslab.connect()` and `lab.up()` themselves (as a student does); here we only
give the run its own lab prefix, inherited by the notebook kernels, and remove that lab after.
"""

import os


def pytest_sessionstart(session):
    os.environ.setdefault("KANSLAB_PREFIX", f"knb{os.getpid() % 10000}")
    os.environ.setdefault("PLOTLY_RENDERER", "notebook")


def pytest_sessionfinish(session, exitstatus):
    from kanslab.backends.local import LocalBackend

    prefix = os.environ["KANSLAB_PREFIX"]
    for p in [prefix] + [f"{prefix}w{n}" for n in (20, 100)]:   # chapter 07's labs (kanslab.scale.connect)
        b = LocalBackend(prefix=p)
        if b.rec.exists() and os.geteuid() == 0:
            b.down()
