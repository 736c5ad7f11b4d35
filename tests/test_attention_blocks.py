"""CE, DCB, SE, SAM and SA against direct, slow computations written here from the papers and the code."""

import math
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convrnn.blocks import (
    CellContext,
    ContextEmbedding,
    ConvSpec,
    DetailContext,
    SelfAttention,
    SelfAttentionMemory,
    SpatiotemporalExpression,
    attend,
    divide,
    restore,
)
from convrnn.blocks.attention import query_chunks
from convrnn.cost import saved_tensor_bytes

#: the CMS-LSTM authors' convolutions on a 64 x 16 x 16 layer: bias-free, LayerNorm
AUTHORS = ConvSpec(bias=False, norm="layer", height=16, width=16)


@pytest.fixture(autouse=True)
def _double_precision():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@contextmanager
def num_threads(threads):
    """Torch's intra-op thread count set to ``threads`` inside the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def softmax_attention(q, k, v, scale):
    """Explicit ``softmax(scale q k^T) v`` with the full weight matrix."""
    w = torch.exp(scale * q @ k.transpose(-1, -2))
    return (w / w.sum(-1, keepdim=True)) @ v


def conv1x1(x, conv):
    return F.conv2d(x, conv.weight, conv.bias)


def randomise(module):
    """Random LayerNorm affine parameters too, so the test sees where each one is used."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return module


@pytest.mark.parametrize(("widths", "scale"), [((4, 4), 1.0), ((3, 6), 1.0), ((6, 3), 0.5)])
def test_attend_equals_explicit_softmax(widths, scale):
    torch.manual_seed(0)
    wqk, wv = widths
    q, k = torch.randn(3, 10, wqk), torch.randn(3, 10, wqk)
    v = torch.randn(3, 10, wv)
    torch.testing.assert_close(attend(q, k, v, scale), softmax_attention(q, k, v, scale))
    strided = torch.randn(3, wqk, 10).transpose(1, 2)  # feature axis not contiguous
    torch.testing.assert_close(
        attend(strided, k, v, scale), softmax_attention(strided, k, v, scale)
    )


@pytest.mark.parametrize("threads", [1, 4])  # 4 threads at batch 1: the backward in query blocks
def test_attend_saves_memory_linear_in_tokens(threads):
    def saved(tokens):
        # (B, L, E) views with a strided feature axis and unequal widths, as the blocks produce them
        q, k = (torch.randn(1, 4, tokens, requires_grad=True).transpose(1, 2) for _ in "qk")
        v = torch.randn(1, 8, tokens, requires_grad=True).transpose(1, 2)
        return saved_tensor_bytes(attend, q, k, v, 1.0)[0]

    with num_threads(threads):
        small, large = saved(256), saved(1024)
    assert large <= 4.5 * small, "4x the tokens must cost about 4x, not 16x, the saved bytes"


def test_query_chunks_fill_idle_threads_with_blocks_that_divide_the_tokens():
    assert query_chunks(batch=1, tokens=4096, threads=2) == 4
    assert query_chunks(batch=2, tokens=4096, threads=2) == 1  # the batch fills the threads
    assert query_chunks(batch=1, tokens=30, threads=4) == 6  # 8 and 7 do not divide 30
    assert query_chunks(batch=1, tokens=7, threads=2) == 1  # a prime: no split


def test_attend_in_query_blocks_gives_the_whole_attention_and_its_gradients():
    torch.manual_seed(0)
    q, k = torch.randn(1, 48, 4), torch.randn(1, 48, 4)
    v = torch.randn(1, 48, 6)
    grad = torch.randn(1, 48, 6)

    def run(threads):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        with num_threads(threads):
            out = attend(*leaves, 0.5)
            out.backward(grad)
        return [out.detach()] + [t.grad for t in leaves]

    assert query_chunks(1, 48, 4) == 8
    split, whole = run(4), run(1)
    torch.testing.assert_close(whole[0], softmax_attention(q, k, v, 0.5))
    for a, b in zip(split, whole, strict=True):
        torch.testing.assert_close(a, b)


def test_divide_restore_round_trip_and_windows():
    t = torch.arange(2 * 3 * 8 * 4 * 2, dtype=torch.float64).reshape(2, 3, 8, 4, 2)
    for s in (1, 2, 4):
        d = divide(t, s)
        assert d.shape == (2 * s * s, (8 // s) * (4 // s) * 2, 3)
        torch.testing.assert_close(restore(d, s, t.shape), t)
    # scale 2: window (row 1, col 0) of sample 1 holds rows 4..7, cols 0..1 of both maps
    d = divide(t, 2)
    window = d[1 * 4 + 1 * 2 + 0]
    expected = t[1, :, 4:8, 0:2, :].permute(1, 2, 3, 0).reshape(-1, 3)
    torch.testing.assert_close(window, expected)
    with pytest.raises(ValueError, match="divisible"):
        divide(torch.zeros(1, 1, 6, 6, 2), 4)


def test_identity_attention_round_trips_the_input():
    """An attention that returns its values unchanged gives back the input (RESTORE inverts DIVIDE)."""
    x = torch.randn(2, 3, 8, 8, 2)
    for s in (1, 2, 4):
        d = divide(x, s)
        one_hot = 30 * torch.eye(d.shape[1]).expand(
            d.shape[0], -1, -1
        )  # each token attends to itself
        out = attend(one_hot, one_hot, d, 1.0)
        torch.testing.assert_close(restore(out, s, x.shape), x)


def layer_norm(x, ln):
    return x if isinstance(ln, nn.Identity) else ln(x)


def reference_se(se, h, c):
    """SE written window by window from the CMS-LSTM paper and the code's layout."""
    b, ch, height, width = h.shape
    outs = []
    for s, proj in zip(se.scales, se.qkv, strict=True):
        qh, kh, vh = conv1x1(h, proj).chunk(3, 1)
        qc, kc, vc = conv1x1(c, proj).chunk(3, 1)
        out_h, out_c = torch.zeros_like(h), torch.zeros_like(c)
        bh, bw = height // s, width // s
        for n in range(b):
            for wy in range(s):
                for wx in range(s):
                    rows, cols = slice(wy * bh, (wy + 1) * bh), slice(wx * bw, (wx + 1) * bw)

                    def tokens(a, m, n=n, rows=rows, cols=cols):
                        return torch.cat(
                            [
                                a[n, :, rows, cols].reshape(ch, -1),
                                m[n, :, rows, cols].reshape(ch, -1),
                            ],
                            dim=1,
                        ).T

                    z = softmax_attention(tokens(qh, qc), tokens(kh, kc), tokens(vh, vc), 1.0)
                    half = bh * bw
                    out_h[n, :, rows, cols] = z[:half].T.reshape(ch, bh, bw)
                    out_c[n, :, rows, cols] = z[half:].T.reshape(ch, bh, bw)
        outs.append(torch.cat([out_h + h, out_c + c], dim=-1))  # residual, [H | C] on the width
    fused = layer_norm(
        F.conv2d(torch.cat(outs, 1), se.fuse.weight, se.fuse.bias, padding=se.fuse.padding),
        se.fuse_norm,
    )
    z = conv1x1(torch.cat([fused[..., :width], fused[..., width:]], 1), se.merge)
    g = se.gates
    pad = g.kernel_size // 2
    pre = 0
    for j, x in enumerate((h, z)):
        bias = None if g.bias is None else g.bias[j]
        y = F.conv2d(x, g.weight[:, j * ch : (j + 1) * ch], bias, padding=pad)
        pre = pre + (y if g.norms is None else g.norms[j](y))
    i, gg, o = pre.chunk(3, 1)
    c_new = layer_norm(
        c * (1 - torch.sigmoid(i)) + torch.sigmoid(i) * torch.tanh(gg), se.memory_norm
    )
    return torch.sigmoid(o) * c_new, c_new


@pytest.mark.parametrize(
    ("norm", "bias", "scales"), [("layer", False, (1, 2, 4)), ("none", True, (1, 2))]
)
def test_se_matches_reference(norm, bias, scales):
    torch.manual_seed(0)
    se = randomise(
        SpatiotemporalExpression(3, ConvSpec(3, bias=bias, norm=norm, height=4, width=8), scales)
    )
    h, c = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 4, 8)
    got = se(h, c)
    want = reference_se(se, h, c)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])


def test_se_parameters_match_the_official_table():
    """official-cms-modernn-sa.md section 1.5, per cell at 64 x 16 x 16."""
    se = SpatiotemporalExpression(64, AUTHORS.with_kernel(5), unused_gamma=True)
    per_module = {
        "qkv": 3 * 12_480,
        "gamma": 3,
        "fuse": 307_264,
        "fuse_norm": 65_536,
        "merge": 8_256,
        "gates": 2 * 405_504,
        "memory_norm": 32_768,
    }
    for name, expected in per_module.items():
        assert sum(p.numel() for p in getattr(se, name).parameters()) == expected, name


def reference_alternation(x, h, weight_x, weight_h, iterations=5, s=2.0):
    for step in range(iterations):
        if step % 2 == 0:
            x = s * torch.sigmoid(weight_x(h)) * x
        else:
            h = s * torch.sigmoid(weight_h(x)) * h
    return x, h


def test_ce_matches_reference():
    ce = randomise(ContextEmbedding(3, 5, ConvSpec(3, bias=True, norm="layer", height=6, width=6)))
    x, h = torch.randn(2, 3, 6, 6), torch.randn(2, 5, 6, 6)

    def conv_ln(module):
        conv = module
        ln = module.norms[0]
        return lambda t: ln(F.conv2d(t, conv.weight, conv.bias[0], padding=1))

    want = reference_alternation(x, h, conv_ln(ce.conv_q), conv_ln(ce.conv_r))
    got = ce(x, h)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    assert [c.weight.shape for c in (ce.conv_q, ce.conv_r)] == [(3, 5, 3, 3), (5, 3, 3, 3)]


def test_ce_with_zero_hidden_state_starts_as_identity_on_x():
    """With h = 0, LN(conv(0)) is the LN bias (0 at initialisation): x is multiplied by 2 sigma(0) = 1."""
    ce = ContextEmbedding(
        2, 2, ConvSpec(3, bias=False, norm="layer", height=4, width=4), iterations=1
    )
    x = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(ce(x, torch.zeros(1, 2, 4, 4))[0], x)


def test_dcb_matches_reference():
    dcb = randomise(DetailContext(3, 4, ConvSpec(bias=False, norm="layer", height=8, width=8)))
    x, h = torch.randn(2, 3, 8, 8), torch.randn(2, 4, 8, 8)

    def mean_of_kernels(group):
        def f(t):
            outs = [
                conv.norms[0](F.conv2d(t, conv.weight, padding=conv.kernel_size // 2))
                for conv in group.convs
            ]
            return sum(outs) / 3

        return f

    want = reference_alternation(
        x, h, mean_of_kernels(dcb.from_hidden), mean_of_kernels(dcb.from_input)
    )
    got = dcb(x, h)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])
    assert [c.kernel_size for c in dcb.from_hidden.convs] == [3, 5, 7]
    # official per-side DCB at 64 x 16 x 16: 69,632 + 135,168 + 233,472
    side = DetailContext(64, 64, AUTHORS).from_hidden
    assert [sum(p.numel() for p in c.parameters()) for c in side.convs] == [
        69_632,
        135_168,
        233_472,
    ]


def reference_sam(sam, h, m):
    """SAM from the SA-ConvLSTM paper, Eqs. 2-9, with the full N x N weight matrices."""
    b, ch, height, width = h.shape
    a = sam.attention_channels
    flat = lambda t: t.flatten(2)  # noqa: E731  (B, C, N)
    parts = []
    if sam.query is not None:
        q = flat(conv1x1(h, sam.query))
        for proj, source in ((sam.hidden_kv, h), (sam.memory_kv, m)):
            if proj is None:
                continue
            kv = flat(conv1x1(source, proj))
            k, v = kv[:, :a], kv[:, a:]
            e = sam.scale * q.transpose(1, 2) @ k  # (B, N, N): e_ij = q_i . k_j
            alpha = torch.exp(e) / torch.exp(e).sum(-1, keepdim=True)
            parts.append((v @ alpha.transpose(1, 2)).reshape(b, ch, height, width))
    gate_in = h
    if parts:
        gate_in = torch.cat([conv1x1(torch.cat(parts, 1), sam.fuse), h], 1)
    pre = sam.gates(gate_in)
    pre = pre if isinstance(sam.gate_norm, nn.Identity) else sam.gate_norm(pre)
    i, g, o = pre.chunk(3, 1)
    i = torch.sigmoid(i)
    m_new = (1 - i) * m + i * torch.tanh(g)
    return torch.sigmoid(o) * m_new, m_new


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"scaled": True, "gate_conv": "full", "norm": "layer"},
        {"memory_attention": False, "gate_conv": "1x1"},
        {"attention": False, "memory_attention": False},
        {"attention": False, "attention_channels": 7},
    ],
)
def test_sam_matches_reference(options):
    options = {"attention_channels": 2, **options}
    conv = ConvSpec(3, norm=options.pop("norm", "none"), height=5, width=6)
    sam = randomise(SelfAttentionMemory(4, conv=conv, **options))
    h, m = torch.randn(2, 4, 5, 6), torch.randn(2, 4, 5, 6)
    got, want = sam(h, m), reference_sam(sam, h, m)
    torch.testing.assert_close(got[0], want[0])
    torch.testing.assert_close(got[1], want[1])


def test_sam_depthwise_separable_gate_conv():
    sam = SelfAttentionMemory(64, 32, ConvSpec(5, bias=True), gate_conv="dwsep")
    depthwise, pointwise = sam.gates
    assert depthwise.groups == 128 and depthwise.bias is None
    assert depthwise.weight.numel() == 128 * 25 and pointwise.weight.numel() == 128 * 192
    full = SelfAttentionMemory(64, 32, ConvSpec(5), gate_conv="full")
    assert sum(p.numel() for p in full.gates.parameters()) == 128 * 192 * 25 + 192
    with pytest.raises(ValueError, match="gate_conv="):
        SelfAttentionMemory(4, 2, gate_conv="separable")
    with pytest.raises(ValueError, match="attention_channels"):
        SelfAttentionMemory(4, 0)


def test_sam_memory_attention_reads_the_memory():
    h, m1, m2 = torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4), torch.randn(1, 4, 4, 4)
    sam = SelfAttentionMemory(4, 2, ConvSpec(3))
    assert not torch.allclose(sam._aggregate(h, m1), sam._aggregate(h, m2)), "Z_m reads M_{t-1}"
    no_zm = SelfAttentionMemory(4, 2, ConvSpec(3), memory_attention=False)
    torch.testing.assert_close(no_zm._aggregate(h, m1), no_zm._aggregate(h, m2))
    assert no_zm.memory_kv is None and no_zm.fuse.in_channels == 4


def test_self_attention_matches_reference():
    sa = randomise(SelfAttention(5, 3, scaled=True))
    x = torch.randn(2, 5, 4, 3)
    q, k, v = conv1x1(x, sa.qkv).flatten(2).split([3, 3, 5], 1)
    alpha = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(3), dim=-1)
    z = (v @ alpha.transpose(1, 2)).reshape(2, 5, 4, 3)
    torch.testing.assert_close(sa(x), x + conv1x1(z, sa.out))


def test_cell_context_options():
    off = CellContext(4, 4, ConvSpec(3))
    assert sum(p.numel() for p in off.parameters()) == 0 and off.size_multiple == 1
    x, h = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    assert off.embed(x, h) == (x, h) and off.express(x, h) == (x, h)
    assert CellContext(4, 4, se=True, se_scales=(2, 3)).size_multiple == 6
    with pytest.raises(ValueError, match="choose one"):
        CellContext(4, 4, ce=True, dcb=True)
    with pytest.raises(ValueError, match="se_scales"):
        CellContext(4, 4, se=True, se_scales=(0, 2))
    with pytest.raises(ValueError, match="se_scales"):
        CellContext(4, 4, se=True, se_scales=())
    with pytest.raises(ValueError, match="image_size"):
        CellContext(4, 4, ConvSpec(norm="layer"), se=True)
