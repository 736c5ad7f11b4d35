import gc
import weakref

import torch
from torch import nn

from convrnn.cost import activation_bytes, saved_tensor_bytes


def test_saved_bytes_are_counted_and_freed_without_backward():
    x = torch.randn(4, 256, requires_grad=True)
    refs = []

    def fn(t):
        y = torch.sigmoid(t)  # sigmoid saves its own output
        refs.append(weakref.ref(y))
        return y * 2.0  # a product with a Python scalar saves nothing

    nbytes, out = saved_tensor_bytes(fn, x)
    assert nbytes == 4 * 256 * 4
    del out
    gc.collect()
    assert refs[0]() is None, "a dropped graph must free its saved tensors (no reference cycle)"


def test_backward_still_works_through_counted_graph():
    lin = nn.Linear(8, 8)
    x = torch.randn(2, 8, requires_grad=True)
    nbytes, out = saved_tensor_bytes(lambda t: torch.tanh(lin(t)), x, exclude=lin)
    out.sum().backward()
    with torch.no_grad():
        expected = (1 - torch.tanh(lin(x)) ** 2) @ lin.weight
    torch.testing.assert_close(x.grad, expected)
    assert nbytes == 2 * (2 * 8 * 4)  # the linear layer's input and the tanh output


def test_activation_bytes_is_deterministic():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, frames, input_length):
            return torch.sigmoid(self.conv(frames[:, 0]))

    frames = torch.rand(1, 3, 1, 5, 5)
    assert activation_bytes(Tiny(), frames, 1) == activation_bytes(Tiny(), frames, 1) > 0
