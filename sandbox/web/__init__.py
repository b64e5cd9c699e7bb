"""Simulated structures' websites on loopback (virtual hosts, a test CA) with their truth."""

from sandbox.web.server import WebSandbox
from sandbox.web.truth import SiteTruth, site_truth
from sandbox.web.world import SiteSpec, generated_sites, showcase_sites

__all__ = ["SiteSpec", "SiteTruth", "WebSandbox", "generated_sites", "showcase_sites", "site_truth"]
