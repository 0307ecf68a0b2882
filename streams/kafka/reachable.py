"""Whether a Kafka cluster's bootstrap servers answer at all, asked before a command starts
its clients: faust and aiokafka report a closed port as a traceback through a dozen
services, where an operator needs one line naming the address.

>>> from streams.kafka.embedded_broker import free_port
>>> unreachable(f"127.0.0.1:{free_port()}")[0][1]
'connection refused'
>>> unreachable("no-port-here")
[('no-port-here', 'not host:port')]
"""

from __future__ import annotations

import socket


def unreachable(bootstrap_servers: str, timeout: float = 5.0) -> list[tuple[str, str]]:
    """The (address, reason) of each bootstrap server no TCP connection can be opened to,
    but only when none can (one answering server is enough: it names the others)."""
    failures = []
    for address in (s.strip() for s in bootstrap_servers.split(",") if s.strip()):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            failures.append((address, "not host:port"))
            continue
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return []
        except ConnectionRefusedError:
            failures.append((address, "connection refused"))
        except TimeoutError:
            failures.append((address, f"no answer within {timeout:g} s"))
        except OSError as error:  # name resolution, no route
            failures.append((address, error.strerror or type(error).__name__))
    return failures


def unreachable_message(command: str, failures: list[tuple[str, str]]) -> str:
    """One line for the console.

    >>> print(unreachable_message("vigil run", [("127.0.0.1:9", "connection refused")]))
    vigil run: cannot reach Kafka at 127.0.0.1:9 (connection refused); check VIGIL_BOOTSTRAP_SERVERS
    """
    where = ", ".join(f"{address} ({reason})" for address, reason in failures)
    return f"{command}: cannot reach Kafka at {where}; check VIGIL_BOOTSTRAP_SERVERS"
