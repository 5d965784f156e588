import pytest

from mllab.core.errors import BadInput
from mllab.core.seeding import SEED_LIMIT, check_seed, derive_seed


def test_derive_seed_is_stable_bounded_and_distinct():
    seeds = [derive_seed(s, arm, k) for s in (0, 1, 2**32 - 1) for arm in ("a", "b", "tune") for k in range(2000)]
    assert len(set(seeds)) == len(seeds)  # no two arms, repeats or run seeds share a derived seed
    assert all(0 <= s < 2**63 for s in seeds)
    assert derive_seed(7, "a", 3) == derive_seed(7, "a", 3)
    assert derive_seed(7, 1) != derive_seed(7, "1")  # an int key and a str key are different keys


def test_derive_seed_is_the_same_in_another_process():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "from mllab.core.seeding import derive_seed; print(derive_seed(5, 'x', 2))"],
                         capture_output=True, text=True, check=True).stdout
    assert int(out) == derive_seed(5, "x", 2)


@pytest.mark.parametrize("bad", [-1, SEED_LIMIT, 10**20, 1.5, "3", True])
def test_check_seed_refuses(bad):
    with pytest.raises(BadInput, match="seed"):
        check_seed(bad)


def test_check_seed_accepts_the_range():
    assert check_seed(0) == 0 and check_seed(SEED_LIMIT - 1) == SEED_LIMIT - 1
