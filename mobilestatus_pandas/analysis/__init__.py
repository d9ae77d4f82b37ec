"""Tables and statistics over result frames and ledgers; they never call the service.

``report`` (summaries, billing, shared numbers, costs), ``grouping`` (what ``by=`` means),
``stats`` (``compare``: shares, intervals, lifts, tests), ``sampling`` (stratified samples of
distinct numbers and their weights). Imports the service layer's tables and columns only.
"""
