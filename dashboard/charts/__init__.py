"""Plotly figures for the dashboard, split by subject.

``style`` (templates, fonts, colours, reported markers), ``thesis`` (reported numbers looked
up), ``training`` (runs' curves and tables), ``reported`` (measured beside reported),
``compare`` (bars per configuration), ``export`` (HTML/PNG/SVG for slides).
"""
