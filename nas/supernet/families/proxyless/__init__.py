"""The once-for-all ProxylessNAS family: elastic kernel, expand ratio and depth over ProxylessNAS's MBConv blocks
(ReLU6, no squeeze-excite), as in once-for-all's ``ofa_proxyless_d234_e346_k357_w1.3``."""

from __future__ import annotations

from nas.supernet.families.proxyless.costs import ProxylessCosts
from nas.supernet.families.proxyless.elastic import ElasticProxylessNAS
from nas.supernet.families.proxyless.parts import ProxylessParts
from nas.supernet.families.proxyless.published import PUBLISHED
from nas.supernet.families.proxyless.static import ProxylessSubnet
from nas.supernet.families.proxyless.timm_export import proxyless_timm_spec
from nas.supernet.part_costs import MEMORY_METRICS
from nas.supernet.registry import Family, register_family

__all__ = ["FAMILY", "ElasticProxylessNAS", "ProxylessCosts", "ProxylessSubnet"]

FAMILY = register_family(
    Family(
        name="proxyless",
        spaces=("ofa_proxyless_w13", "ofa_proxyless_w13_small"),
        supernet=ElasticProxylessNAS,
        costs=ProxylessCosts,
        parts=ProxylessParts,
        static_subnet=ProxylessSubnet,
        metrics=MEMORY_METRICS,
        published=PUBLISHED,
        timm_export=proxyless_timm_spec,
    )
)
