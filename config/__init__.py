"""Scenario and run-config structs: the neutral home that services and orchestration both import.

Only the standard library, msgspec and `protocol` are imported here.
"""
