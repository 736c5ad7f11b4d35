"""``convrnn export``: model bundles (safetensors weights, config, model card) and deployment files.

* :func:`export_run` writes a bundle (:mod:`convrnn.bundle` reads it back) and,
  with ``fmt="onnx"`` or ``"torch-export"``, the checked rollout
  (:mod:`convrnn.export.deploy`);
* :func:`push_bundle` uploads a bundle to a Hugging Face Hub repository.
"""

from convrnn.export.deploy import TOLERANCE, Rollout, export_onnx, export_program
from convrnn.export.hub import push_bundle
from convrnn.export.writer import FORMATS, ExportReport, export_run

__all__ = [
    "FORMATS",
    "TOLERANCE",
    "ExportReport",
    "Rollout",
    "export_onnx",
    "export_program",
    "export_run",
    "push_bundle",
]
