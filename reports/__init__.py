"""Results table + run artifacts -> a report (``dsm-bench report DIR [--out OUT]``).

Modules: ``build`` (entry point and composition), ``data`` (loading, seed aggregation),
``tables`` (CSV + booktabs LaTeX), ``figures`` (PNG + PDF), ``document`` (Markdown / HTML),
``style`` (one visual style, a fixed colour per solver).
"""
