"""Outgoing HTTP to addresses that callers choose (URL inputs, webhooks), guarded against
server-side request forgery.

A host is resolved once; if any of its addresses is not a public unicast address
(loopback, private, link-local such as 169.254.169.254, CGNAT, multicast, reserved, or an
IPv6 form that embeds one: IPv4-mapped, 6to4, NAT64, Teredo) the request is refused. The
connection then goes to that very address (the URL's host is kept for the Host header and
TLS), so a DNS answer cannot change between the check and the connection. Numeric spellings
such as 2130706433, 0x7f000001 or 0177.0.0.1 resolve to the address they name and are
judged by it. Redirects are followed by hand, each one checked again.
"""
import ipaddress
import socket
import threading
import time
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrl(ValueError):
    """The URL is malformed or points where we do not send requests; the message says why."""


class FetchFailed(ValueError):
    """The request was allowed but did not succeed (timeout, refused, too large, HTTP error)."""


class AddressPolicy:
    """Which hosts we may connect to; `allow` lists hosts and networks trusted anyway."""

    def __init__(self, allow=""):
        self.allowed_hosts = set()
        self.allowed_networks = []
        for item in filter(None, (part.strip() for part in allow.split(","))):
            try:
                self.allowed_networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.allowed_hosts.add(item.lower().rstrip("."))

    def resolve(self, host, port):
        """Return the one address to connect to for host:port, or raise UnsafeUrl."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchFailed(f"the host {host} could not be resolved ({exc})") from None
        return self._judge(host, infos)

    def check_without_lookup(self, host, port):
        """Refuse a host that names a non-public address by itself (a numeric address in any
        spelling, or localhost), without asking DNS: a lookup can take as long as the
        resolver's timeouts, so callers that must not wait (a submit) use this and leave
        resolve() to the fetch."""
        name = host.lower().rstrip(".")
        if (name == "localhost" or name.endswith(".localhost")) and name not in self.allowed_hosts:
            raise UnsafeUrl(f"{host} is a loopback name, a non-public address")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_NUMERICHOST)  # never a DNS query
        except (socket.gaierror, UnicodeError):
            return  # a name: judged when it is resolved
        self._judge(host, infos)

    def _judge(self, host, infos):
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        trusted_name = host.lower().rstrip(".") in self.allowed_hosts
        for address in addresses:
            if not trusted_name and not self._allowed(address):
                raise UnsafeUrl(f"{host} resolves to {address}, a non-public address")
        return str(addresses[0])

    def _allowed(self, address):
        if any(address in network for network in self.allowed_networks):
            return True
        return all(_is_public(candidate) for candidate in _embedded_addresses(address))


def _embedded_addresses(address):
    """The address itself and any IPv4 address an IPv6 form carries inside it."""
    found = [address]
    if address.version == 6:
        if address.ipv4_mapped:
            found.append(address.ipv4_mapped)
        if address.sixtofour:
            found.append(address.sixtofour)
        if address.teredo:
            found.extend(address.teredo)
        if address in NAT64_PREFIX:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_public(address):
    return address.is_global and not address.is_multicast and not address.is_reserved


class _PinnedAdapter(HTTPAdapter):
    """Sends every request of its session to one checked IP address."""

    def __init__(self, hostname, address):
        self._hostname = hostname
        self._address = address
        super().__init__(max_retries=0)

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        host = f"[{self._address}]" if ":" in self._address else self._address
        netloc = host + (f":{url.port}" if url.port else "")
        request.url = urlunsplit((url.scheme, netloc, url.path, url.query, ""))
        request.headers["Host"] = url.netloc.rsplit("@", 1)[-1]
        if url.scheme == "https":
            self.poolmanager.connection_pool_kw["server_hostname"] = self._hostname
            self.poolmanager.connection_pool_kw["assert_hostname"] = self._hostname
        return super().send(request, **kwargs)


class SafeHttp:
    def __init__(self, policy, user_agent="tryon"):
        self.policy = policy
        self.user_agent = user_agent

    def check_url(self, url):
        """Check the form of a URL and the addresses it resolves to; return the pinned address."""
        parts = _parse(url)
        return self.policy.resolve(parts.hostname, parts.port or _default_port(parts.scheme))

    def check_url_form(self, url):
        """The checks on a URL that need no network: its form, and an address it spells
        out (see AddressPolicy.check_without_lookup). Raises UnsafeUrl."""
        parts = _parse(url)
        self.policy.check_without_lookup(parts.hostname, parts.port or _default_port(parts.scheme))

    def get(self, url, *, max_bytes, timeout, max_redirects=3):
        """GET `url` (following checked redirects); return (body bytes, content type)."""
        deadline = time.monotonic() + timeout
        for _ in range(max_redirects + 1):
            response = self._send("GET", url, deadline, stream=True)
            if response.is_redirect:
                location = response.headers.get("Location", "")
                response.close()
                url = urljoin(url, location)
                continue
            with response:
                if response.status_code != 200:
                    raise FetchFailed(f"the server answered HTTP {response.status_code}")
                return _read_capped(response, max_bytes, deadline), \
                    response.headers.get("Content-Type", "")
        raise FetchFailed(f"more than {max_redirects} redirects")

    def post(self, url, *, body, headers, timeout):
        """POST without following redirects; return the response, closed before its body is
        read (only the status counts: a receiver's endless answer must not hold us)."""
        deadline = time.monotonic() + timeout
        response = self._send("POST", url, deadline, data=body, headers=headers, stream=True)
        response.close()
        return response

    def _send(self, method, url, deadline, **kwargs):
        parts = _parse(url)
        address = self.check_url(url)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchFailed("timed out")
        headers = {"User-Agent": self.user_agent, **kwargs.pop("headers", {})}
        with requests.Session() as session:
            session.trust_env = False          # never route through an environment proxy
            session.mount(f"{parts.scheme}://", _PinnedAdapter(parts.hostname, address))
            try:
                return session.request(method, url, headers=headers, allow_redirects=False,
                                       timeout=(min(5, remaining), remaining), **kwargs)
            except requests.RequestException as exc:
                raise FetchFailed(_describe(exc)) from None


def _parse(url):
    if not isinstance(url, str) or len(url) > 2048:
        raise UnsafeUrl("not a URL (at most 2048 characters)")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise UnsafeUrl(f"malformed URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("only http and https URLs with a host are accepted")
    if parts.username or parts.password:
        raise UnsafeUrl("URLs with credentials are not accepted")
    return parts


def _default_port(scheme):
    return 443 if scheme == "https" else 80


def _read_capped(response, max_bytes, deadline):
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed(f"the file is larger than {max_bytes} bytes")
    # urllib3 waits for a whole chunk, and each socket read has a timeout of its own, so a
    # server that trickles bytes would outlast a deadline checked between chunks: a watchdog
    # shuts the socket down at the deadline instead (a blocked read then returns at once).
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), response.raw.shutdown)
    watchdog.daemon = True
    watchdog.start()
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise FetchFailed(f"the file is larger than {max_bytes} bytes")
            chunks.append(chunk)
    except requests.RequestException as exc:
        _raise_if_past(deadline)
        raise FetchFailed(_describe(exc)) from None
    finally:
        watchdog.cancel()
    _raise_if_past(deadline)  # a body cut short by the watchdog may look complete
    return b"".join(chunks)


def _raise_if_past(deadline):
    if time.monotonic() >= deadline:
        raise FetchFailed("timed out while downloading")


def _describe(exc):
    # requests reports a read timeout during a streamed body as a ConnectionError.
    cause = exc.args[0] if exc.args else None
    if isinstance(exc, requests.Timeout) or isinstance(cause, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    return type(exc).__name__
