"""Go's math/rand and big.Int.Rand, reproduced bit for bit (Calico's block picker depends on it).

Every expected value below was printed by Go itself (go1.19 math/rand and math/big, the same code as
Go 1.22 which builds Calico v3.28). The first five: the well-known stream of
`rand.New(rand.NewSource(1)).Int63()` (and Intn(100): 81 87 47 59 81 ..., the Go playground's
classic output before Go 1.20 seeded the global source randomly)."""

import pytest

from kanslab.emulator.gorand import RNG_COOKED, GoRand, big_int_rand, fnv1_32


def test_seed_1_gives_gos_known_int63_stream():
    r = GoRand(1)
    assert [r.int63() for _ in range(5)] == [5577006791947779410, 8674665223082153551, 6129484611666145821,
                                             4037200794235010051, 3916589616287113937]


def test_intn_and_uint32_match_go():
    r = GoRand(1)
    assert [r.intn(100) for _ in range(10)] == [81, 87, 47, 59, 81, 18, 25, 40, 56, 0]
    r = GoRand(0)   # Go replaces seed 0 by 89482311
    assert [r.uint32() for _ in range(3)] == [4059586549, 1052117029, 2817310706]


def test_negative_seed_and_the_other_draws_match_go():
    r = GoRand(-5)
    assert (r.int63(), r.uint64(), r.int31n(10), r.int63n(1000000007)) == (
        1811683815564572222, 4427849682616757295, 7, 520286049)


@pytest.mark.parametrize("seed,first,digest", [
    ((1 << 40) + 7, 3978647029347767025, 515108857365206142),
    (-(1 << 62), 3644962268338389676, 18432972692161399462),
    (2147483647, 8717895732742165505, 12688814112073645333),
    (42, 3440579354231278675, 10982696365385922498),
])
def test_5000_uint64_draws_match_go_so_every_cooked_value_is_right(seed, first, digest):
    """5000 draws run the feedback register over all 607 entries of rngCooked several times;
    digest = XOR of Uint64()*(k+1) mod 2^64, as Go computed it."""
    assert len(RNG_COOKED) == 607
    assert GoRand(seed).int63() == first
    r, x = GoRand(seed), 0
    for k in range(5000):
        x ^= (r.uint64() * (k + 1)) & (2 ** 64 - 1)
    assert x == digest


def test_big_int_rand_matches_go_for_multi_word_and_small_limits():
    r = GoRand(1)
    assert (big_int_rand(r, 1 << 70), big_int_rand(r, 1000)) == (275603747477499085890, 770)
    assert big_int_rand(GoRand(1), 0) == 0


def test_fnv1_32_is_go_hash_fnv_new32():
    # hash/fnv New32 of the KANS hostnames and of "" (the FNV offset basis)
    assert [fnv1_32(h.encode()) for h in ("k8s-m", "k8s-w1", "k8s-w2", "k8s-w0", "")] == [
        1299569549, 2273881732, 2273881735, 2273881733, 2166136261]


def test_bad_limits_raise_like_gos_panics():
    with pytest.raises(ValueError, match="Intn"):
        GoRand(1).intn(0)
    with pytest.raises(ValueError, match="Int63n"):
        GoRand(1).int63n(-1)
