import gc
import weakref

import pytest
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
    assert result["params_per_pixel"] == 0 and result["fit_error"] is not None
    assert 16 * result["params_at_max_side"] + 2 * measured <= 64 * 2**20


def _eq2_bytes(spec, side):
    """Training memory of ``spec`` at ``side`` x ``side`` by MS-RNN Eq. (2), measured (Adam: 4 x 4 B/param)."""
    from convrnn.cost import BenchSpec, activation_bytes
    from convrnn.registry import count_parameters

    options = {**spec.options, "image_size": (side, side)}
    probe = BenchSpec(**{**spec.__dict__, "height": side, "width": side, "options": options})
    model = probe.build()
    return 16 * count_parameters(model) + 2 * activation_bytes(model, probe.frames(), 2)


def test_max_square_size_fits_layernorm_parameters_that_grow_with_the_area():
    from convrnn.cost import BenchSpec, max_square_size

    spec = BenchSpec("convlstm", None, 32, 32, 2, 2, 1, "cpu", {"num_layers": 2, "hidden_channels": 8,
                                                                "patch_size": 1, "norm": "layer"})  # fmt: skip
    budget = 64 * 2**20
    result = max_square_size(spec, budget_bytes=budget, probe_sizes=(16, 32, 48))
    side = result["max_side"]
    assert result["params_per_pixel"] > 0  # LayerNorm over [C, H, W]: weight and bias per pixel
    assert result["fit_error"] < 1e-6 and result["params_fit_error"] < 1e-6
    # the largest side is right at the edge: it fits, one pixel more does not
    assert _eq2_bytes(spec, side) <= budget < _eq2_bytes(spec, side + result["divisor"])
    # with the parameters held at their 32x32 count (the old model) the side would not fit
    fixed_params = result["probes"][32]["params"]
    naive = int(((budget - 16 * fixed_params) / (2 * result["activation_bytes_per_pixel"])) ** 0.5)
    assert naive > side and _eq2_bytes(spec, naive) > budget


def test_max_square_size_without_growth_says_so(monkeypatch):
    import convrnn.cost as cost

    monkeypatch.setattr(cost, "activation_bytes", lambda model, frames, input_length: 1000)
    spec = cost.BenchSpec("convlstm", None, 16, 16, 2, 2, 1, "cpu",
                          {"num_layers": 2, "hidden_channels": 4, "patch_size": 1})  # fmt: skip
    result = cost.max_square_size(spec, budget_bytes=2**20, probe_sizes=(16, 32))
    assert result["max_side"] is None and "does not grow" in result["note"]
    assert result["fit_error"] is None  # two probes: nothing left to check the fit on
    monkeypatch.undo()
    tiny = cost.max_square_size(spec, budget_bytes=1000, probe_sizes=(16, 32))
    assert tiny["max_side"] == 0 and "not even" in tiny["note"]


def test_max_size_cli_table_shows_the_fit_error(capsys):
    from convrnn.cli import main

    assert main(["bench", "--models", "convlstm", "--max-size", "--budget", "64MB", "--frames", "2,2",
                 "--probe-sizes", "16,32,48", "--set", "num_layers=2", "--set", "hidden_channels=4",
                 "--set", "patch_size=1", "--set", "norm=layer"]) == 0  # fmt: skip
    header, row = capsys.readouterr().out.splitlines()[1:3]
    assert "fit error" in header and row.split()[0] == "convlstm" and row.endswith("%")


@pytest.mark.slow
def test_cpu_peak_memory_is_not_hidden_by_the_parents_high_water_mark():
    from convrnn.cost import BenchSpec, bench_row

    # raise this process's RSS high-water mark far above what the step needs: a child used to
    # inherit it (ru_maxrss survives fork and exec), so "growth of ru_maxrss" read 0
    big = torch.ones(64 * 2**20)  # 256 MiB, touched
    del big
    spec = BenchSpec("convlstm", None, 32, 32, 2, 2, 1, "cpu",
                     {"num_layers": 2, "hidden_channels": 8, "patch_size": 1})  # fmt: skip
    row = bench_row(spec, timing=False, peak_memory=True)
    # every tensor saved for backward is alive at once when backward starts, on top of the
    # baseline (weights, Adam moments, frames), so the step's peak is at least the activations
    assert row["peak_memory_bytes"] >= row["activation_bytes"] > 0
    if row["peak_memory_method"] == "vmhwm":  # Linux: exact high-water mark, not a lower bound
        assert row["peak_memory_bytes"] < 64 * 2**20  # and far below the parent's 256 MiB
        # the whole process's peak holds the live state (interpreter, torch, model) on top
        assert row["process_peak_bytes"] > row["peak_memory_bytes"] + 32 * 2**20


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


def test_checkpoint_inputs_nested_in_the_arguments_are_counted():
    import sys

    from torch.utils.checkpoint import checkpoint

    x = torch.randn(4, 64, requires_grad=True)
    state = (torch.randn(4, 64), [torch.randn(4, 32)])

    def step(x, state):
        return torch.sigmoid(x * state[0] + state[1][0].repeat(1, 2))

    events = []
    sys.setprofile(lambda frame, event, arg: events.append(event))
    try:
        nbytes, out = saved_tensor_bytes(lambda: checkpoint(step, x, state, use_reentrant=False))
        assert sys.getprofile() is not None  # an installed profile function is chained, then kept
    finally:
        sys.setprofile(None)
    assert events  # and it kept seeing the calls
    # x and both nested state tensors are kept for the recomputation; what step computes is not
    assert nbytes == 4 * 64 * 4 + 4 * 64 * 4 + 4 * 32 * 4
    out.sum().backward()
    assert x.grad is not None
