"""The combinatorial search (PAPER.md): phase 1 trains every dense structure, phase 2
every mask of one structure (harness.search.masks), and the frontier is read off the runs.

config (what to search), phases (plan and run a phase), runs (one population's runs:
build, train, record), selection (minimal structures, frontier, Pareto curve),
throughput (time estimates).
"""
