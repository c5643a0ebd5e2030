"""Which IPAM block a node claims: Calico's hostname-seeded random walk over a pool's blocks.

libcalico-go (lib/ipam/ipam_block_reader_writer.go, v3.28):
- `determineSeed`: the seed is the 32-bit FNV-1 hash of the hostname (so a node picks the same
  blocks on every cluster), except for /32 blocks (blockSize 32 on IPv4), where it is the time in
  nanoseconds;
- `randomBlockGenerator`: `rand.New(rand.NewSource(seed))`, a start index drawn with
  `new(big.Int).Rand(r, numBlocks)`, then every block from there upwards, wrapping to the pool's
  first block after its last, each block once;
- `findUsableBlock`: the first block of that walk that is not entirely reserved and does not exist
  yet is claimed (a collision simply moves on to the next block of the walk).

That is why the KANS write-up's blocks (k8s-m 172.16.116.0/24, k8s-w1 172.16.158.0/24, ...) come
out again here for the same hostnames.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator

from .gorand import GoRand, big_int_rand, fnv1_32


def determine_seed(block_size: int, hostname: str, version: int = 4) -> int:
    """libcalico-go's determineSeed."""
    if block_size == (32 if version == 4 else 128):
        return time.time_ns()
    return fnv1_32(hostname.encode())


def random_block_generator(pool_cidr: str, block_size: int, hostname: str) -> Iterator[str]:
    """The pool's blocks in the order libcalico-go's randomBlockGenerator yields them for `hostname`."""
    pool = ipaddress.ip_network(pool_cidr)
    bits = pool.max_prefixlen
    num_blocks = 2 ** (bits - pool.prefixlen) // 2 ** (bits - block_size)
    step = 2 ** (bits - block_size)
    base = int(pool.network_address)
    index = big_int_rand(GoRand(determine_seed(block_size, hostname, pool.version)), num_blocks)
    for _ in range(num_blocks):
        yield f"{ipaddress.ip_address(base + index * step)}/{block_size}"
        index = 0 if num_blocks - index <= 1 else index + 1


def first_unclaimed_block(pool_cidr: str, block_size: int, hostname: str, exists: Callable[[str], bool],
                          wholly_reserved: Callable[[str], bool] = lambda cidr: False) -> str | None:
    """findUsableBlock's choice of a new block: the walk's first block that no reservation covers
    entirely and that no node has claimed yet; None when every block of the pool is taken."""
    for cidr in random_block_generator(pool_cidr, block_size, hostname):
        if not wholly_reserved(cidr) and not exists(cidr):
            return cidr
    return None
