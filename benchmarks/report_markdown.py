"""The Markdown of benchmarks/report.py: one :class:`Table` per section and the page around them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

Row = dict[str, Any]

TEMPLATE = Path(__file__).with_name("report_template.md")


def mib(nbytes: float) -> str:
    """Bytes as whole MiB with thousands separators."""
    return f"{nbytes / 2**20:,.0f}"


@dataclass(frozen=True)
class Table:
    """A Markdown table: one ``(header, cell of a row)`` per column."""

    columns: tuple[tuple[str, Callable[[Row], str]], ...]

    def head(self) -> list[str]:
        """The header line and the rule under it."""
        names = [name for name, _ in self.columns]
        return [f"| {' | '.join(names)} |", "|" + "---|" * len(names)]

    def line(self, row: Row) -> str:
        """One row as a Markdown line."""
        return f"| {' | '.join(cell(row) for _, cell in self.columns)} |"


def _dash(value: Any, fmt: str = "") -> str:
    return "-" if value is None else format(value, fmt)


def _peak_cells(r: Row) -> tuple[str, str]:
    n = r["peak_memory_bytes"]
    return ("-", "-") if n is None else (mib(n), f"{n / r['activation_bytes']:.2f}")


def tables(s: Any) -> dict[str, Table]:
    """The report's tables by section, their headers fitted to the setting ``s``."""
    small, large = s.attention_sizes
    return {
        "table_one": Table((
            ("model", lambda r: r["name"]),
            ("params", lambda r: f"{r['flat']['params']:,}"),
            ("MS params", lambda r: "same" if r["ms"]["params"] == r["flat"]["params"] else f"{r['ms']['params']:,}"),
            ("GMACs", lambda r: f"{r['flat']['macs'] / 1e9:.1f}"),
            ("activation MiB", lambda r: mib(r["flat"]["activation_bytes"])),
            ("step s", lambda r: f"{r['flat']['step_seconds']:.2f}"),
            ("MS twin GMACs", lambda r: f"{r['ms']['macs'] / 1e9:.1f}"),
            ("MS activation MiB", lambda r: mib(r["ms"]["activation_bytes"])),
            ("MS step s", lambda r: f"{r['ms']['step_seconds']:.2f}"),
            ("MS / flat activations", lambda r: f"{r['ms']['activation_bytes'] / r['flat']['activation_bytes']:.3f}"),
        )),
        "peak": Table((
            ("model", lambda r: r["name"]),
            ("activation MiB", lambda r: mib(r["activation_bytes"])),
            ("peak MiB of a training step", lambda r: _peak_cells(r)[0]),
            ("peak / activations", lambda r: _peak_cells(r)[1]),
        )),
        "checkpointing": Table((
            ("model", lambda r: r["name"]),
            ("activation MiB", lambda r: mib(r["act"])),
            ("with checkpointing", lambda r: mib(r["act_ckpt"])),
            ("ratio", lambda r: f"{r['act_ckpt'] / r['act']:.3f}"),
            ("step s", lambda r: f"{r['t']:.2f}"),
            ("with checkpointing", lambda r: f"{r['t_ckpt']:.2f}"),
            ("time ratio", lambda r: f"{r['t_ckpt'] / r['t']:.2f}"),
        )),
        "channels_last": Table((
            ("model", lambda r: r["name"]),
            ("step s", lambda r: f"{r['t']:.2f}"),
            ("with channels_last", lambda r: f"{r['t_nhwc']:.2f}"),
            ("time ratio", lambda r: f"{r['t_nhwc'] / r['t']:.2f}"),
        )),
        "attention": Table((
            ("model", lambda r: r["name"]),
            (f"saved MiB at {small}x{small}", lambda r: f"{r['small'] / 2**20:,.1f}"),
            (f"at {large}x{large}", lambda r: f"{r['large'] / 2**20:,.1f}"),
            ("ratio", lambda r: f"{r['large'] / r['small']:.2f}x"),
            (f"stored softmax MiB at {large}x{large} (not kept)", lambda r: f"{r['softmax'] / 2**20:,.0f}"),
        )),
        "precision": Table((
            ("model", lambda r: r["name"]),
            ("fp32 step s", lambda r: f"{r['t32']:.2f}"),
            ("bf16-mixed step s", lambda r: f"{r['t16']:.2f}"),
            ("speed-up", lambda r: f"{r['t32'] / r['t16']:.2f}x"),
            ("prediction MSE change (bf16 - fp32)", lambda r: f"{r['mse16'] - r['mse32']:+.3f} (of {r['mse32']:.1f})"),
        )),
        "efficiency": Table((
            ("variant", lambda r: r["name"]),
            ("step s", lambda r: f"{r['t_step']:.2f}"),
            ("convolutions alone s", lambda r: f"{r['t_conv']:.2f}"),
            ("ratio", lambda r: f"{r['t_step'] / r['t_conv']:.2f}"),
        )),
        "max_size": Table((
            ("model", lambda r: r["name"]),
            ("max side at 16 GB", lambda r: _dash(r["sides"][0])),
            ("max side at 40 GB", lambda r: _dash(r["sides"][1])),
            ("fit error at 96", lambda r: _dash(r["fit_error"], ".2%")),
        )),
    }  # fmt: skip


def render(s: Any, results: dict[str, list[Row]], started: str, machine: str) -> str:
    """The Markdown page of the measured ``results``."""
    blocks = {
        name: "\n".join([*table.head(), *(table.line(r) for r in results[name])])
        for name, table in tables(s).items()
    }
    methods = sorted({r["peak_memory_method"] for r in results["peak"]})
    page = TEMPLATE.read_text().format(
        started=started,
        machine=machine,
        threads=torch.get_num_threads(),
        peak_methods=", ".join(methods),
        attention_hidden=s.attention_hidden,
        **blocks,
    )
    return page + RESULTS_MARK + measured_elsewhere()


#: the line after which the page holds ``results/*.md`` (what ``report.py --results-only`` replaces)
RESULTS_MARK = "\n<!-- below: benchmarks/results/*.md, measured elsewhere -->\n"


def measured_elsewhere() -> str:
    """The sections of ``results/*.md``: runs this script does not make (a GPU, a long training)."""
    parts = sorted((TEMPLATE.parent / "results").glob("*.md"))
    return "".join("\n" + part.read_text() for part in parts)


def refresh_results(page: str) -> str:
    """``page`` (a rendered page) with its ``results/*.md`` sections read again; its measurements kept."""
    measured, mark, _ = page.partition(RESULTS_MARK)
    if not mark:
        raise SystemExit(
            f"the page has no results mark {RESULTS_MARK.strip()!r}: run report.py whole"
        )
    return measured + RESULTS_MARK + measured_elsewhere()
