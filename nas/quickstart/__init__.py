"""The quickstarts: end-to-end runs on the bundled digits data that show what the platform does (train, measure,
profile, search, verify, export), for the MobileNetV3 family and for spiking networks."""

from __future__ import annotations

from nas.quickstart.digits import QuickstartTargets, run_quickstart
from nas.quickstart.spiking import SPIKING_ACCURACY_TARGET, SPIKING_EPOCHS, run_spiking_quickstart

__all__ = ["SPIKING_ACCURACY_TARGET", "SPIKING_EPOCHS", "QuickstartTargets", "run_quickstart", "run_spiking_quickstart"]
