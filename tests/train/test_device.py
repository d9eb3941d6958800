"""--device parsing: cpu, GPU indices, and a clear error when CUDA is asked for but absent."""

from __future__ import annotations

import pytest
import torch

from y7deploy.errors import NotAvailable, UserError
from y7deploy.train.device import select_device


def test_cpu_and_default():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("CPU") == torch.device("cpu")
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert select_device("") == torch.device(expected)
    assert select_device(None) == torch.device(expected)


@pytest.mark.parametrize("value", ["gpu", "0,x", "-1", ","])
def test_garbage_is_refused(value):
    with pytest.raises(UserError, match="--device"):
        select_device(value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("value", ["0", "0,1", "cuda:0"])
def test_cuda_without_cuda_names_the_value(value):
    with pytest.raises(NotAvailable, match=f"--device '{value}'.*CUDA is not available"):
        select_device(value)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_indices():
    n = torch.cuda.device_count()
    assert select_device(str(n - 1)) == torch.device(f"cuda:{n - 1}")
    with pytest.raises(NotAvailable, match="does not exist"):
        select_device(str(n))
