"""Pages that need JavaScript, rendered by Debian's chromium through Playwright (an option).

Only the page and its scripts and data requests load (no images, styles, fonts or media), one
page at a time per renderer slot; TLS was judged by the plain fetch already, so the browser
does not judge it again (the sandbox's test CA is not in chromium's store).
"""

from __future__ import annotations

import asyncio
import shutil
from types import TracebackType
from typing import TYPE_CHECKING

from channels.web.errors import JavaScriptUnavailableError
from channels.web.policy import CheckPolicy

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright, Route

SKIPPED_RESOURCES = frozenset({"image", "stylesheet", "font", "media", "manifest", "other"})


class Renderer:
    """One headless chromium for a run of checks: ``async with Renderer(policy) as renderer``."""

    def __init__(self, policy: CheckPolicy, *, slots: int = 2) -> None:
        self.policy = policy
        self._slots = asyncio.Semaphore(slots)
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._browser_errors: tuple[type[Exception], ...] = ()

    async def __aenter__(self) -> Renderer:
        try:
            # Optional: only a policy with javascript = true needs it (the "javascript" extra).
            from playwright.async_api import Error, async_playwright  # noqa: PLC0415
        except ImportError:
            raise JavaScriptUnavailableError(
                "the JavaScript check needs Playwright: pip install 'prober[javascript]'"
            ) from None
        self._browser_errors = (Error,)
        chromium = shutil.which(str(self.policy.chromium_path))
        if chromium is None:
            raise JavaScriptUnavailableError(
                f"the JavaScript check needs chromium at {self.policy.chromium_path}: "
                "apt-get install chromium, or set [sites] chromium_path"
            )
        rules = ", ".join(f"MAP {host} {address}" for host, address in self.policy.resolve)
        arguments = ["--no-sandbox"] + ([f"--host-resolver-rules={rules}"] if rules else [])
        self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=chromium, args=arguments
            )
            self._context = await self._browser.new_context(
                user_agent=self.policy.user_agent,
                ignore_https_errors=True,
                java_script_enabled=True,
            )
        except BaseException:
            await self._playwright.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()

    async def render(self, url: str) -> str | None:
        """The page's HTML once its scripts ran (at most ``max_bytes`` characters); None when
        the browser could not load it in ``timeout_s``."""
        if self._context is None:
            raise RuntimeError("Renderer used outside its async with block")
        async with self._slots:
            page = await self._context.new_page()
            try:
                await page.route("**/*", _skip_decoration)
                await page.goto(url, timeout=self.policy.timeout_s * 1000, wait_until="load")
                return (await page.content())[: self.policy.max_bytes]
            except self._browser_errors:  # a timeout, a crash...: keep the plain page
                return None
            finally:
                await page.close()


async def _skip_decoration(route: Route) -> None:
    if route.request.resource_type in SKIPPED_RESOURCES:
        await route.abort()
    else:
        await route.continue_()
