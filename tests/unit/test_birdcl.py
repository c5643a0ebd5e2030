"""The lab's birdcl prints what calico-node's birdcl prints: no lab-only protocols, Calico's greeting."""

from kanslab.backends.local.birdcl import calico_view

LAB = """BIRD 1.6.9 ready.
name     proto    table    state  since       info
static1  Static   master   up     10:03:40    
kernel1  Kernel   master   up     10:03:40    
calico_pipe Pipe     master   up     10:03:40    => calico_remote
calico_krt Kernel   calico_remote up     10:03:40    
device1  Device   master   up     10:03:40    
direct1  Direct   master   up     10:03:40    
Mesh_192_168_10_10 BGP      master   up     10:03:45    Established   
"""

LAB_ALL = """BIRD 1.6.9 ready.
name     proto    table    state  since       info
kernel1  Kernel   master   up     10:03:40    
  Preference:     10

calico_pipe Pipe     master   up     10:03:40    => calico_remote
  Preference:     70
  Routes:         1 imported, 0 exported

calico_krt Kernel   calico_remote up     10:03:40    
  Preference:     10

device1  Device   master   up     10:03:40    
  Preference:     240

"""


def test_show_protocols_drops_the_labs_pipe_and_kernel_table_and_greets_as_calico_node():
    out = calico_view(LAB)
    assert out.splitlines()[0] == "BIRD v0.3.3+birdv1.6.8 ready."
    names = [line.split()[0] for line in out.splitlines()[2:]]
    assert names == ["static1", "kernel1", "device1", "direct1", "Mesh_192_168_10_10"]


def test_show_protocols_all_drops_their_detail_blocks_too():
    out = calico_view(LAB_ALL)
    assert "calico_" not in out and "Routes:         1 imported" not in out
    assert out.endswith("device1  Device   master   up     10:03:40    \n  Preference:     240\n\n")
    assert "kernel1  Kernel   master   up     10:03:40    \n  Preference:     10\n\ndevice1" in out
