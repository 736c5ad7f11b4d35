"""The model card (``README.md``) of a bundle: model and paper, data and recipe, scores, use, loading."""

from __future__ import annotations

import json
from typing import Any

SCORES = (
    ("mse", "MSE", ".2f"),
    ("mae", "MAE", ".2f"),
    ("psnr", "PSNR", ".2f"),
    ("ssim", "SSIM", ".4f"),
)


def _value(x: Any, fmt: str) -> str:
    return "n/a (not finite)" if x is None else format(x, fmt)


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _model_section(c: dict[str, Any]) -> list[str]:
    m = c["model"]
    size = (
        "x".join(str(v) for v in m["image_size"])
        if m.get("image_size")
        else "any multiple of the stack's divisor"
    )
    targets = m.get("target_channels")
    rows = [
        (
            "Architecture",
            f"`{m['name']}`" + (f" (preset `{m['preset']}`)" if m.get("preset") else ""),
        ),
        ("Paper", m.get("summary", "")),
        ("Parameters", f"{m['parameters']:,}"),
        ("Input", f"{c['input_length']} frames of {m['in_channels']} channel(s), {size}"),
        (
            "Output",
            f"{c['output_length']} frames (trained horizon) of {m['out_channels']} channel(s)",
        ),
        ("Interval between frames", c.get("interval") or "not recorded"),
        ("Units of the raw data", c.get("units", "[0, 1]")),
    ]
    if targets:
        rows.append(
            (
                "Target channels",
                f"{targets}: the other input channels are held at their last observed values "
                "during the rollout",
            )
        )
    lines = ["## Model", "", *_table(rows), ""]
    if m.get("notes"):
        lines += [f"Notes of the implementation: {m['notes']}", ""]
    lines += [
        "`build_model` keywords (`config.json` → `build`):",
        "",
        "```json",
        json.dumps(c["build"], indent=2),
        "```",
        "",
    ]
    return lines


def _data_section(c: dict[str, Any]) -> list[str]:
    d, t, src = c.get("data", {}), c.get("training", {}), c.get("source", {})
    norm = c.get("normalization")
    rows = [
        (
            "Dataset",
            f"`{d.get('name')}`" + (f": {d['description']}" if d.get("description") else ""),
        ),
        ("Splits", d.get("splits") or "not recorded"),
        ("Dataset options", f"`{json.dumps(d.get('options', {}))}`"),
        (
            "Normalisation",
            "none (data in [0, 1])"
            if not norm
            else f"`{norm.get('kind')}`: {norm.get('fitted_on', '')}",
        ),
        (
            "Checkpoint",
            f"{src.get('checkpoint')} of run `{src.get('run')}`, iteration {src.get('iteration')}",
        ),
    ]
    rows += [(f"train.{k}", f"`{json.dumps(v)}`") for k, v in t.items()]
    return ["## Training data and recipe", "", *_table(rows), ""]


def _metrics_section(report: dict[str, Any] | None) -> list[str]:
    lines = ["## Test metrics", ""]
    if report is None:
        return [*lines, "Not scored: run `convrnn test RUN` before exporting to include them.", ""]
    lines += [
        f"Split `{report.get('split')}`, {report.get('num_sequences')} sequences, "
        f"{report.get('frames_note', '')}. MSE and MAE are sums over a frame's pixels, averaged "
        "over frames and sequences (the papers' convention); PSNR and SSIM on 8-bit frames.",
        "",
        "| forecaster | " + " | ".join(name for _, name, _ in SCORES) + " |",
        "|---|" + "---:|" * len(SCORES),
    ]
    rows = [("model", report.get("metrics", {}))]
    rows += [
        ("copy-last-frame" if n == "persistence" else n, m)
        for n, m in report.get("baselines", {}).items()
    ]
    for name, m in rows:
        lines.append(f"| {name} | " + " | ".join(_value(m.get(k), f) for k, _, f in SCORES) + " |")
    return [*lines, ""]


def _use_section(c: dict[str, Any]) -> list[str]:
    return [
        "## Intended use and limitations",
        "",
        f"Research and prototyping of {c['output_length']}-frame forecasts of data like the "
        "training data (same variables, units, frame size and interval). It is not a validated "
        "operational product: check it on your own data against the copy-last-frame baseline before "
        "relying on it. Forecasts beyond the trained horizon feed the model its own predictions "
        "and usually blur; inputs outside the training range are clipped by the normalisation.",
        "",
    ]


def _load_section(c: dict[str, Any]) -> list[str]:
    t_in = c["input_length"]
    return [
        "## How to load",
        "",
        "```python",
        "import convrnn",
        "import torch",
        "from convrnn.runs import read_normalizer",
        "",
        'model = convrnn.load("BUNDLE")            # or "hf://owner/name" (pip install convrnn[hub])',
        'normalizer = read_normalizer("BUNDLE")    # None: the data are already in [0, 1]',
        f"# frames: raw data (N, {t_in}, C, H, W) -> [0, 1] -> forecast -> raw units",
        "x = normalizer.transform(frames) if normalizer else frames",
        f"forecast = model.predict(torch.as_tensor(x, dtype=torch.float32), horizon={c['output_length']})",
        "```",
        "",
        "Command line (raw units in, `forecast_raw.npy` in the same units out):",
        "",
        "```",
        f"convrnn predict BUNDLE --input frames.npy --horizon {c['output_length']} --out forecast/",
        "```",
        "",
    ]


def _exports_section(exports: dict[str, Any]) -> list[str]:
    if not exports:
        return []
    lines = ["## Deployment files", ""]
    for e in exports.values():
        i, o, chk = e["input"], e["output"], e["checked"]
        lines.append(
            f"- `{e['file']}` ({e['format']}): input `{i['name']}` {i['shape']}, output "
            f"`{o['name']}` {o['shape']}, normalised values in [0, 1] (apply `config.json`'s "
            f"normalization to raw data, invert it on the forecast); max |exported - eager| = "
            f"{chk['max_abs_diff']:.2g} on {chk['sample']} (tolerance {chk['tolerance']:g})."
        )
    return [*lines, ""]


def model_card(config: dict[str, Any], report: dict[str, Any] | None) -> str:
    """The bundle's ``README.md`` (with Hub front matter) from its config and test report."""
    m = config["model"]
    data = config.get("data", {}).get("name", "data")
    front = [
        "---",
        "library_name: convrnn",
        "tags:",
        "- convrnn",
        "- spatiotemporal-forecasting",
        f"- {m['name']}",
        f"- {data}",
        "---",
        "",
        f"# {m['name']} trained on {data}",
        "",
        f"A convrnn model bundle (convrnn {config.get('convrnn_version')}): `model.safetensors` "
        "(weights only), `config.json` (everything that rebuilds the model), this card"
        + (" and `metrics.json`" if report is not None else "")
        + ".",
        "",
    ]
    sections = (
        _model_section(config)
        + _data_section(config)
        + _metrics_section(report)
        + _use_section(config)
        + _load_section(config)
        + _exports_section(config.get("exports", {}))
    )
    return "\n".join(front + sections)
