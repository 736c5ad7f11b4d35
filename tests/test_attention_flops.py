"""FLOP counts include the CPU's fused attention (torch's counter has no formula for it)."""

import torch

from convrnn.blocks.attention import attend
from convrnn.cost.counters import count_flops, flops_by_op


def test_fused_attention_is_counted_like_the_matrix_products_it_replaces():
    q, k, v = torch.rand(2, 64, 16), torch.rand(2, 64, 16), torch.rand(2, 64, 16)
    fused = count_flops(attend, q, k, v, 1.0)
    plain = count_flops(lambda: torch.softmax(q @ k.transpose(1, 2), -1) @ v)
    assert fused == plain == 2 * (2 * 2 * 64 * 64 * 16)


def test_fused_attention_backward_is_counted():
    q = torch.rand(1, 32, 8, requires_grad=True)
    k, v = torch.rand(1, 32, 8), torch.rand(1, 32, 8)
    forward = count_flops(attend, q, k, v, 1.0)
    both = count_flops(lambda: attend(q, k, v, 1.0).sum().backward())
    assert both > 2 * forward  # the backward of attention costs more than its forward


def test_flops_by_op_splits_the_total_and_names_the_fused_attention():
    q = torch.rand(2, 64, 8, requires_grad=True)
    k, v = torch.rand(2, 64, 8), torch.rand(2, 64, 16)
    split = flops_by_op(lambda: attend(q, k, v, 1.0).sum().backward())
    forward = split.pop("aten._scaled_dot_product_flash_attention_for_cpu")
    backward = split.pop("aten._scaled_dot_product_flash_attention_for_cpu_backward")
    # queries and keys padded from 8 to the values' 16: two 64 x 64 x 16 products per batch entry
    assert forward == 2 * (2 * 2 * 64 * 64 * 16)
    assert backward == 5 * forward // 2  # five products of that size against the forward's two
    assert sum(split.values()) == 0  # nothing else multiplies
    assert count_flops(lambda: attend(q, k, v, 1.0).sum().backward()) == forward + backward
