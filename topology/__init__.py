"""The declared shape of a deployment: topic specs, functions, triggers, composition graphs.

Imports only `schemas`. Nothing here talks to Kafka; `processors` applies what is declared.
"""
