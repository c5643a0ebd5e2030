"""DataFrames -> plotly figures (plain `go.Figure`), whichever backend produced the data.

`topology(lab, routes, node)`: the lab with, for one node, where each pod block goes;
`flows(packets)`: a capture as a sequence picture, outer headers against inner packets.
`bgp(lab, sessions)`: the BGP sessions, with the prefixes each router session carries.
`path(diag)`: `lab.diagnose()` hop by hop with the failing hop marked.
`dashboard(panels)`: a Grafana dashboard's panels (`lessons.dashboard`) as small line charts.
`reachability(df)`: `lab.reachability()` as a heatmap; `truth_table(df)` the same as upstream
e2e text ('.' allowed, 'X' blocked) and `from_truth_table(text)` back to a DataFrame.
In a notebook call `use_notebook_renderer()` once so figures also show in exported HTML.
"""

from .bgp import bgp
from .dashboard import dashboard
from .flows import flows
from .notebook import use_notebook_renderer
from .path import path
from .reachability import from_truth_table, reachability, truth_table
from .topology import block_routes, topology

__all__ = ["bgp", "dashboard", "topology", "block_routes", "flows", "use_notebook_renderer", "reachability", "truth_table",
           "from_truth_table", "path"]
