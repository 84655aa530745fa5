"""The Faust app and its agents, the local broker launcher, the CLI and the test harness.

This is the one package allowed to import all the others (schemas, state, topology).
"""
