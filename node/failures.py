"""Why a sync round with a peer failed, in one sentence that says what to do: the one
place where a failure becomes words (docs/CLI.md, "When a sync fails").

A round that fails is classified once, where it failed (node/sync_client.py's
``sync_with``, from the exception and how far the round got), into a **cause**: a short
stable code. Each cause has one sentence, in English here and translated by the web
view (``N_`` marks them for its catalogs). ``commune sync``, ``status``, the web view
and ``/metrics`` show the sentence of the same stored record (node/records.py); the
raw error (the library's exception, or the peer's answer) is kept beside it as the
**detail**, for ``sync --verbose``, ``status --verbose`` and ``serve``'s log (where
addresses become ``[address]``, node/logs.py).

A few failures are already said in words by this node's own code (a peer that holds
this node's feed as forked, one that claims more of this node's feed than it sends):
their cause is ``said``, and their message is the sentence.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass


def N_(text: str) -> str:
    return text


#: cause → the sentence that says what happened and what to do
SENTENCES: dict[str, str] = {
    "not-known-there": N_(
        "That node does not know this node yet (it closed the connection at the "
        "handshake): it takes this node once it holds this node's admission, from an "
        "admin or a member that has it; until then, sync with another member."
    ),
    "other-network": N_(
        "That address answers for another network, not this one: check the address "
        "(`commune peer list`; `commune peer remove URL` takes a wrong one off)."
    ),
    "unknown-peer": N_(
        "This node does not know that node's certificate: if it was admitted recently, "
        "sync with a member that knows it first; otherwise the address leads somewhere "
        "else (check it with `commune peer list`)."
    ),
    "refused-admission": N_(
        "That node refused this node's proof of admission (it holds this node as "
        "revoked, or is in another network): ask an admin of the network."
    ),
    "down": N_(
        "Nothing answers at that address: the node is down or its `commune serve` is not "
        "running, or the port is wrong; it is tried again later."
    ),
    "no-such-host": N_(
        "The host name of that address does not resolve: check it for a typo (`commune "
        "peer remove URL` takes a wrong address off the list)."
    ),
    "unreachable": N_(
        "No answer from that address in time: the machine is off or cannot be reached "
        "from here (a firewall, no route), or the address is wrong; it is tried again "
        "later."
    ),
    "cut": N_(
        "The connection was cut in the middle of the round; what came is kept, and the "
        "next round goes on from there."
    ),
    "slow": N_(
        "The round took longer than its time limit (a slow link); what came is kept, and "
        "the next round goes on from there."
    ),
    "proxy": N_(
        "The SOCKS proxy (Tor) could not reach that node, or could not be reached: check "
        "that Tor runs and the node's proxy setting ([network] proxy)."
    ),
    "needs-proxy": N_(
        "That address is an onion service, reached through Tor only: set [network] proxy "
        "(or --proxy) to Tor's SOCKS port, socks5://127.0.0.1:9050."
    ),
    "tls": N_(
        "The secure connection failed: something between the two nodes (a proxy, or a "
        "firewall that inspects traffic) is in the way, or the address leads to another "
        "server."
    ),
    "http": N_(
        "That node refused the sync with an HTTP error: it may run another version, or "
        "another server answers at that address; the detail says what it answered."
    ),
    "protocol": N_(
        "That node broke the sync protocol, so this node hung up: it may run an "
        "incompatible version, or something alters the traffic; it is tried again later."
    ),
    "other": N_(
        "The sync failed for a reason this node does not know: `commune sync --verbose` "
        "shows the error."
    ),
}
#: a failure this node's own code already says in words: its message is the sentence
SAID = "said"
CAUSES = (*SENTENCES, SAID)

_NOT_KNOWN_ALERTS = ("UNKNOWN_CA", "CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "ACCESS_DENIED")


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed round: its ``cause`` (one of :data:`CAUSES`) and its ``detail``, the raw
    error."""

    cause: str
    detail: str

    @property
    def sentence(self) -> str:
        return self.detail if self.cause == SAID else SENTENCES.get(self.cause, self.detail)

    def __str__(self) -> str:
        return self.sentence


def of(error: BaseException) -> Failure:
    """The failure of a round that raised ``error``: its cause as the round said it
    (:class:`node.errors.PeerRefused`), else found from the error."""
    from crypto.errors import CommuneError  # noqa: PLC0415

    detail = getattr(error, "message", None) or str(error) or type(error).__name__
    cause = getattr(error, "cause", None)
    if cause not in CAUSES:
        cause = SAID if isinstance(error, CommuneError) else classify(error)
    return Failure(str(cause), str(detail))


def sentence_of(cause: str, detail: str) -> str:
    """The sentence of a stored record's cause (its detail when the cause is ``said``
    or not known here: a record written by another version)."""
    return Failure(cause if cause in CAUSES else SAID, detail).sentence


def _chain(error: BaseException) -> list[BaseException]:
    """The error and what it was raised from or during, outermost first."""
    out: list[BaseException] = []
    seen: BaseException | None = error
    while seen is not None and seen not in out and len(out) < 8:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out


def classify(error: BaseException, *, answered: bool = False) -> str:
    """The cause of a failed round from its error (and the errors it came from);
    ``answered``: the peer had sent something before it failed."""
    import aiohttp  # noqa: PLC0415 - only where a round ran

    from protocol.errors import SyncError  # noqa: PLC0415

    chain = _chain(error)
    text = " ".join(str(e) for e in chain)
    names = {type(e).__name__ for e in chain}
    if "reached through Tor only" in text:
        return "needs-proxy"
    if "ProxyFailed" in names:
        return "proxy"
    if any(isinstance(e, SyncError) for e in chain):
        return "protocol"
    if any(isinstance(e, aiohttp.ClientResponseError) for e in chain):
        return "http"
    if any(isinstance(e, (aiohttp.ClientConnectorDNSError, socket.gaierror)) for e in chain):
        return "no-such-host"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or any(
        isinstance(e, aiohttp.ClientConnectorCertificateError) for e in chain
    ):
        return "unknown-peer"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "down"
    for e in chain:
        if isinstance(e, OSError) and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "unreachable"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        if "UNRECOGNIZED_NAME" in text.upper() and not answered:
            # the server knows no network by the name this node gave (docs/PROTOCOL.md
            # §10.1: a member names its network in the TLS server name)
            return "other-network"
        if any(alert in text.upper() for alert in _NOT_KNOWN_ALERTS) and not answered:
            return "not-known-there"
        return "tls"
    timeouts = (aiohttp.ServerTimeoutError, aiohttp.ConnectionTimeoutError, TimeoutError)
    if any(isinstance(e, timeouts) for e in chain):
        return "slow" if answered else "unreachable"
    broken = (
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientOSError,
        aiohttp.ClientPayloadError,
        ConnectionError,
    )
    if any(isinstance(e, broken) for e in chain):
        return "cut" if answered else "not-known-there"
    return "other"
