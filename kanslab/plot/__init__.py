"""DataFrames -> plotly figures (plain `go.Figure`), whichever backend produced the data.

`topology(lab, routes, node)`: the lab with, for one node, where each pod block goes;
`flows(packets)`: a capture as a sequence picture, outer headers against inner packets.
In a notebook call `use_notebook_renderer()` once so figures also show in exported HTML.
"""

from .flows import flows
from .notebook import use_notebook_renderer
from .topology import block_routes, topology

__all__ = ["topology", "block_routes", "flows", "use_notebook_renderer"]
