"""Where the web view may listen, and which Host headers it answers.

The page shows the collective's reports, plans and contacts: by default only this
machine may open it (a loopback address). Listening anywhere else needs an explicit
choice, and says what it means.

The Host check stops DNS rebinding: a web page elsewhere can make a browser on this
machine call a name that resolves to 127.0.0.1, but the request then carries that
name in its Host header, and is refused.
"""

from __future__ import annotations

import ipaddress

from node.errors import PublicBind

LOCALHOST = "localhost"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    if host.lower() == LOCALHOST:
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def check_bind(host: str, allow_public: bool) -> str | None:
    """Refuse to listen on ``host`` unless it is a loopback address or ``allow_public``
    is set; with it, the warning to print (None for a loopback address)."""
    if not host:
        raise PublicBind("give the web view an address to listen on, such as 127.0.0.1")
    if is_loopback(host):
        return None
    if not allow_public:
        raise PublicBind(
            f"the web view would listen on {host}, where other machines can reach it: it "
            "shows this collective's reports and plans (and, with the passphrase, its "
            "contacts) to whoever holds its token or cookie, and they would cross the "
            "network in the clear. Use 127.0.0.1 (the default), or add --web-public if you "
            "really mean it"
        )
    return (
        f"WARNING: the web view listens on {host}, where other machines can reach it. It "
        "opens only with its one-time token and the cookie it is traded for, but both "
        "cross the network in the clear (no TLS): whoever watches that network can take "
        "them and read this collective's reports and plans (and contacts, when the node "
        "runs with its passphrase). Prefer 127.0.0.1 and an SSH tunnel."
    )


def _bare(value: str) -> str:
    return value.strip("[]").lower()


def host_allowed(header: str | None, host: str, port: int) -> bool:
    """Whether a request's Host header names the address the view was given.

    Accepted: that address with the port (or without it for port 80); for a loopback
    address also ``localhost`` and the other loopback addresses on the same port; for a
    wildcard address (0.0.0.0, ::) any IP address on the same port, never a name."""
    if not header:
        return False
    header = header.strip().lower()
    if header.startswith("["):
        name, _, rest = header[1:].partition("]")
        given_port = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            return False
    else:
        name, sep, given_port = header.rpartition(":")
        if not sep:
            name, given_port = header, ""
    if given_port != str(port) and not (given_port == "" and port == 80):
        return False
    if name == _bare(host):
        return True
    if is_loopback(host) and is_loopback(name):
        return True
    wildcard = _ip(host)
    return wildcard is not None and wildcard.is_unspecified and _ip(name) is not None
