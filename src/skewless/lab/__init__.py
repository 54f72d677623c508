"""The simulation and fault-injection lab: workloads, nemeses and consistency checkers."""
