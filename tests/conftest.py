import os

import pytest
import torch

# Two pytest-xdist workers on two cores: one torch thread each avoids oversubscription.
torch.set_num_threads(int(os.environ.get("MLLAB_TEST_THREADS", "1")))


@pytest.fixture(scope="session", autouse=True)
def _registry():
    from mllab.experiments import load_all

    load_all()
