"""rnnzoo: recurrent sequence models side by side."""

__version__ = "0.1.0"


def backend_report(device="cpu") -> dict[str, str]:
    """Per op, which implementation ``mode="auto"`` runs on ``device`` and why (``rnnzoo.ops.kernels.upstream``)."""
    from rnnzoo.ops.kernels.upstream import backend_report as report

    return report(device)
