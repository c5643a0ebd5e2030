"""Calico's control plane, emulated: datastore, IPAM, resources, and the calicoctl/kubectl CLIs.

Public entry points (pure Python, no root):
- `datastore.Datastore(path)`: the lab's SQLite datastore shared by all its processes
- `resources`: load_manifest, apply, delete, patch, set_labels, bootstrap, node_view, calico_selector
  (re-exported from `transactions`, `kinds`, `k8s_apply`, `calico_apply`, `bootstrap`, `felix`)
- `ipam`: Calico IPAM (blocks, affinity, borrowing, tunnel addresses) on a datastore transaction
- `cli`: calicoctl(argv, ctx), kubectl(argv, ctx) and `CliContext` (from `cli_context`)
The dataplane side turns what these hold into kernel state: `felix` (the node's view as typed
records, and Felix's routes, VXLAN entries and NAT as records), `bird` (bird.cfg from the view),
`policy` (the filter table).
"""
