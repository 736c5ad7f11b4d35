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


def test_flops_of_a_convlstm_step_match_the_closed_form():
    from convrnn.cells import ConvLSTMCell
    from convrnn.cost import count_flops

    b, c_in, c_h, h, w, k = 2, 3, 5, 8, 6, 3
    cell = ConvLSTMCell(c_in, c_h, k)
    x = torch.randn(b, c_in, h, w)
    state = cell.init_state(b, h, w, x.device, x.dtype)
    flops = count_flops(cell, x, state)
    # one conv x -> 4C_h and one h -> 4C_h (run fused): 2 B H W k^2 C_in C_out each
    assert flops == 2 * b * h * w * k * k * c_in * 4 * c_h + 2 * b * h * w * k * k * c_h * 4 * c_h


def test_multiscale_saves_less_than_flat_and_costs_fewer_macs():
    import convrnn
    from convrnn.cost import BenchSpec, bench_row

    rows = {
        name: bench_row(
            BenchSpec(
                name,
                None,
                32,
                32,
                3,
                3,
                1,
                "cpu",
                {"num_layers": 4, "patch_size": 1, "hidden_channels": 8},
            ),
            timing=False,
            peak_memory=False,
        )
        for name in ("convlstm", "ms-convlstm")
    }
    flat, ms = rows["convlstm"], rows["ms-convlstm"]
    assert ms["params"] == flat["params"]
    assert ms["activation_bytes"] < 0.75 * flat["activation_bytes"]
    assert ms["macs"] < flat["macs"] and flat["macs"] * 2 == flat["flops"]
    assert convrnn.count_parameters(convrnn.build_model("convlstm", num_layers=4, patch_size=1,
                                                        hidden_channels=8)) == flat["params"]  # fmt: skip


def test_step_checkpointing_saves_at_most_a_third():
    import convrnn
    from convrnn.cost import activation_bytes

    frames = torch.rand(1, 8, 1, 32, 32)
    kw = {"num_layers": 4, "patch_size": 1, "hidden_channels": 8, "image_size": 32}
    plain = activation_bytes(convrnn.build_model("ms-convlstm", **kw), frames, 4)
    ckpt = activation_bytes(
        convrnn.build_model("ms-convlstm", checkpointing="step", **kw), frames, 4
    )
    assert ckpt <= plain / 3


def test_max_square_size_fits_the_budget():
    from convrnn.cost import BenchSpec, activation_bytes, max_square_size

    spec = BenchSpec("ms-convlstm", None, 32, 32, 2, 2, 1, "cpu", {"num_layers": 4, "hidden_channels": 8,
                                                                   "patch_size": 1})  # fmt: skip
    result = max_square_size(spec, budget_bytes=64 * 2**20, probe_sizes=(16, 32, 48))
    side = result["max_side"]
    assert side > 0 and side % result["divisor"] == 0
    big = BenchSpec(**{**spec.__dict__, "height": side, "width": side})
    measured = activation_bytes(big.build(), big.frames(), 2)
    predicted = (
        result["activation_bytes_fixed"] + result["activation_bytes_per_pixel"] * side * side
    )
    assert abs(measured - predicted) <= 0.01 * measured  # activations scale exactly with the area
    assert result["fixed_bytes"] + 2 * measured <= 64 * 2**20


def test_bench_json_schema(capsys):
    import json

    from convrnn.cli import main

    assert main(["bench", "--models", "convlstm", "--size", "16", "--frames", "2,2", "--json", "--no-peak-memory",
                 "--set", "num_layers=2", "--set", "hidden_channels=4", "--set", "patch_size=1"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == 1
    keys = {"model", "params", "flops", "macs", "activation_bytes", "peak_memory_bytes", "step_seconds",
            "inference_fps", "size", "frames", "batch", "device"}  # fmt: skip
    assert keys <= set(rows[0])
    assert rows[0]["step_seconds"] > 0 and rows[0]["inference_fps"] > 0
