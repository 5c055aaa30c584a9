"""Fixtures of the cluster tests (the shared functions are in slurmjobs.py)."""
import pytest

from slurmjobs import slurm_problem


@pytest.fixture(scope="session")
def slurm():
    """A reachable Slurm cluster, or a skip that says why there is none."""
    problem = slurm_problem()
    if problem:
        pytest.skip(problem)
