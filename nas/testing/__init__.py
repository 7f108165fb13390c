"""Contract test suites that ship with the library (as ``optuna.testing`` does): a new search space, supernet
family, predictor kind or sampler is tested by subclassing the matching suite in a ``Test*`` class and giving it
the fixture it needs. The project's own tests run each suite over its registry.

>>> # tests/test_my_family.py
>>> import pytest
>>> from nas.testing import SupernetContract
>>>
>>> @pytest.fixture(params=["my_space"])
... def supernet_name(request):
...     return request.param
>>>
>>> class TestMyFamily(SupernetContract):
...     random_archs = 5  # class attributes size the checks

The suites and the fixtures they need: :class:`SearchSpaceContract` (``space``), :class:`SupernetContract`
(``supernet_name``), :class:`PredictorContract` (``predictor_kind``), :class:`SamplerContract` (``sampler_name``);
the fixtures of the same names in :mod:`nas.testing.space`, ``.supernet``, ``.predictor`` and ``.sampler`` yield
every registered entry. These modules need pytest; the library itself never imports them.
"""

from __future__ import annotations

from nas.testing.predictor import PredictorContract, synthetic_data
from nas.testing.sampler import SamplerContract
from nas.testing.space import SearchSpaceContract
from nas.testing.supernet import SupernetContract, randomize_

__all__ = [
    "PredictorContract",
    "SamplerContract",
    "SearchSpaceContract",
    "SupernetContract",
    "randomize_",
    "synthetic_data",
]
