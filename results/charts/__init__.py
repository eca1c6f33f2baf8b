"""Plotly figures for the dashboard and the report, split by subject.

``style`` (templates, fonts, colours, reported markers), ``thesis`` (reported numbers looked
up), ``training`` (runs' curves and tables), ``reported`` (measured beside reported),
``compare`` (bars per configuration), ``cost`` (time and memory), ``systems`` (the research
systems), ``faithfulness`` (summaries' key facts and unsupported details), ``export``
(HTML/PNG/SVG for slides).
"""
