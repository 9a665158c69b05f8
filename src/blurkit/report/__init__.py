"""Reports of robustness evaluations: a self-contained HTML page with plots,
example images, kernel thumbnails and tables (``blurkit report``)."""

from .html import load_results, render_report

__all__ = ["render_report", "load_results"]
