"""The chapters as lessons (issue 12): exercises with solutions, quizzes, few defs, figures; `expect`."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import kanslab
from kanslab.lessons import ExpectationFailed, expect, sample

CHAPTERS = sorted(Path(__file__).resolve().parents[2].joinpath("notebooks").glob("0[1-5]-*.ipynb"))
FIGURE = re.compile(r"plot\.(flows|topology|reachability|path|bgp)\(|px\.\w+\(|go\.Figure\(")


def test_expect_prints_what_was_verified(capsys):
    assert expect(True, "pods are up") is True
    assert capsys.readouterr().out == "✓ pods are up\n"
    assert expect(pd.DataFrame([[True, True]]), "matrix")
    with pytest.raises(ExpectationFailed, match="✗ matrix\nwhat we saw"):
        expect(pd.DataFrame([[True, False]]), "matrix", "what we saw")
    calls = iter([False, False, True])
    assert expect(lambda: next(calls), "converges")  # a callable is polled until it holds


def test_sample_wants_exactly_one():
    df = pd.DataFrame([{"metric": "m", "table": "nat", "value": 1.0}, {"metric": "m", "table": "filter", "value": 2.0}])
    assert sample(df, "m", table="filter") == 2.0
    with pytest.raises(kanslab.InvalidInput, match="2 samples of m"):
        sample(df, "m")


def test_exercise_registry():
    ex = kanslab.exercises.list()
    assert list(ex.columns) == ["id", "chapter", "title"] and len(ex) >= 15
    assert (ex.groupby("chapter").size() >= 3).all()
    with pytest.raises(kanslab.InvalidInput):
        kanslab.exercises.check("no-such-exercise", lab=None)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_a_lesson(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tags = [c.metadata.get("tags", []) for c in code]
    registered = set(kanslab.exercises.list().id)
    exercises = [i for i, t in enumerate(tags) if "exercise" in t]
    assert len(exercises) >= 3
    for i in exercises:  # exercise, the student's check, the hidden solution, the hidden check that must pass
        student, solution, proof = code[i + 1], code[i + 2], code[i + 3]
        ex_id = re.search(r'check\("([^"]+)"', student.source).group(1)
        assert ex_id in registered and not student.metadata.get("jupyter", {}).get("source_hidden")
        assert "solution" in solution.metadata.get("tags", []) and solution.metadata["jupyter"]["source_hidden"]
        assert f'check("{ex_id}"' in proof.source and proof.metadata["jupyter"]["source_hidden"]
    assert sum(len(re.findall(r"^def ", c.source, re.M)) for c in code) <= 3
    assert sum(bool(FIGURE.search(c.source)) for c in code) >= 2
    visible_asserts = [c.id for c in code if re.search(r"^assert ", c.source, re.M)
                       and not c.metadata.get("jupyter", {}).get("source_hidden")]
    assert visible_asserts == []
    quiz = [c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Quiz")]
    assert quiz and quiz[0].source.count("<details>") >= 3


def test_bgp_figure_draws_each_session_once_with_the_router_prefixes():
    from kanslab import plot
    from kanslab.topology import load_topology

    topo = load_topology("kans3")
    ips = {n.name: n.ip for n in topo.nodes}
    rows = [{"local": a, "peer": ips[b], "kind": "mesh", "established": True, "pfx_received": pd.NA, "pfx_sent": pd.NA}
            for a in ips for b in ips if a != b]
    rows += [{"local": n, "peer": "192.168.10.254", "kind": "router", "established": n != "k8s-w0",
              "pfx_received": pd.NA, "pfx_sent": pd.NA} for n in ips]
    rows += [{"local": "router", "peer": ip, "kind": "router", "established": n != "k8s-w0",
              "pfx_received": 1, "pfx_sent": 2} for n, ip in ips.items()]
    fig = plot.bgp(topo, pd.DataFrame(rows))
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 6 + 4  # the mesh among four nodes, and one line per node to the router
    down = [t for t in lines if t.line.dash == "dot"]
    assert len(down) == 1 and "k8s-w0" in down[0].hovertext
    assert sorted(a.text for a in fig.layout.annotations if a.text.startswith("↑")) == ["↑1 ↓2"] * 3
