"""Node status capacity/allocatable as the kubelet reports them on the KANS Vagrant VMs.

Sizes come from the kans3 Vagrantfile (research/kans-lab.md 1.2): k8s-m has 4 vCPU and 4096 MB,
every worker 4 vCPU and 2048 MB. Memory is given as the VM's configured RAM; a real kubelet reports
the guest's MemTotal, a little less (the kernel keeps some), so the Ki figure is an upper bound.
ephemeral-storage is the ubuntu/jammy64 box's 40 GiB disk (not in the research notes: the box's
published disk size). Allocatable is what kubeadm's kubelet leaves: no kube/system reservations, and
the default hard eviction thresholds (memory.available 100Mi, nodefs.available 10%) subtracted
(pkg/kubelet/cm/node_container_manager_linux.go GetNodeAllocatableReservation). pods is kubelet's
default maxPods (110).
"""

from __future__ import annotations

_MEM_MB = {"control-plane": 4096, "worker": 2048}
_CPUS = 4
_DISK_KI = 40 * 1024 * 1024
_EVICTION_MEMORY_KI = 100 * 1024


def capacity(role: str) -> tuple[dict, dict]:
    mem_ki = _MEM_MB.get(role, _MEM_MB["worker"]) * 1024
    cap = {"cpu": str(_CPUS), "ephemeral-storage": f"{_DISK_KI}Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
           "memory": f"{mem_ki}Ki", "pods": "110"}
    alloc = dict(cap, **{"ephemeral-storage": f"{_DISK_KI * 9 // 10}Ki",
                         "memory": f"{mem_ki - _EVICTION_MEMORY_KI}Ki"})
    return cap, alloc
