"""``quality.near_groups`` (the build's near-duplicate groups) against a brute-force union of every
pair within the distance, on hashes with planted near copies; and its cost stays in the pairs that
share a band, not in all pairs (a dump of many crops of one photo puts thousands in one bucket).
"""

from __future__ import annotations

import random

import pytest

from pipecheck.pipeline.quality import near_groups


def _brute(hashes: list[int], max_distance: int) -> list[int]:
    parent = list(range(len(hashes)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            if bin((hashes[i] ^ hashes[j]) & ((1 << 64) - 1)).count("1") <= max_distance:
                a, b = root(i), root(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(len(hashes))]


def _signed(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u


@pytest.mark.parametrize("seed", range(40))
def test_near_groups_equal_the_brute_force_groups(seed):
    rng = random.Random(seed)
    bases = [rng.getrandbits(64) for _ in range(rng.randint(1, 30))]
    hashes = []
    for _ in range(rng.randint(1, 120)):
        h = rng.choice(bases)
        for _ in range(rng.randint(0, 7)):  # near copies: a few bits flipped, sometimes none (equal)
            h ^= 1 << rng.randint(0, 63)
        hashes.append(_signed(h))
    max_distance = rng.randint(0, 6)
    assert near_groups(hashes, max_distance) == _brute(hashes, max_distance)


def test_one_crowded_bucket_is_found_whole_and_distant_hashes_stay_apart():
    rng = random.Random(1)
    base = rng.getrandbits(64)
    # 3000 hashes that share their low 48 bits (one bucket in most bands), each 1-2 bits off the base
    crowd = [_signed(base ^ (1 << rng.randint(48, 63)) ^ (1 << rng.randint(48, 63))) for _ in range(3000)]
    far = [_signed(base ^ 0xFFFF_FFFF_FFFF)]  # 48 bits away
    groups = near_groups(crowd + far, 4)
    assert set(groups[:3000]) == {0}
    assert groups[3000] == 3000
    assert near_groups([], 4) == []
