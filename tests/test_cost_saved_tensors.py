import gc
import weakref

import torch

from convrnn.cost import saved_tensor_bytes


def test_counting_saved_tensors_frees_the_graph():
    """A graph built under the counting hooks is freed once its output goes (no reference cycle)."""
    x = torch.randn(1000, requires_grad=True)
    nbytes, out = saved_tensor_bytes(torch.sigmoid, x)  # sigmoid saves its own output
    assert nbytes == 4000
    ref = weakref.ref(out)
    del out
    gc.collect()
    assert ref() is None


def test_backward_still_works_after_counting():
    x = torch.randn(50, requires_grad=True)
    _, out = saved_tensor_bytes(lambda t: (torch.sigmoid(t) * t).sum(), x)
    out.backward()
    expected = torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x)))
    torch.testing.assert_close(x.grad, expected.detach())
