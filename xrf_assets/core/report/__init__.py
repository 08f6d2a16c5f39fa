"""The monthly audit report a physicist files and signs: one self-contained HTML file and its PDF.

Reads only the published tables (:class:`~xrf_assets.core.store.TableStore`, month partitions), so
in pseudonymize mode it shows what the tables show and nothing more; charts are our own SVG
embedded inline (no internet, fonts or scripts needed to view it); the PDF is headless Chromium's
print of the HTML (one browser per process, over the DevTools pipe). Knows nothing of Dagster.
"""
