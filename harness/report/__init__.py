"""`sparsest report`: the study read back from the store as one self-contained report.

data.py gathers what the sections need (every read goes through store.queries),
sections.py turns it into titled blocks of text, tables and figures (figures.py draws
them with matplotlib, style.py fixes each algorithm's colour and line style), and
writers.py writes `index.html` (figures embedded), `report.md` (figures beside it) and
every table as CSV.
"""
