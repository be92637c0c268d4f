"""The host's mutual-TLS decision request to the broker, for test tools.

The request authenticates with the host certificate and key that the test
harness installs in /etc/zsp, and it trusts only the broker CA there.
"""
import http.client
import ssl
import urllib.parse

CA_FILE = "/etc/zsp/ca.pem"
CERT_FILE = "/etc/zsp/host.pem"
KEY_FILE = "/etc/zsp/host.key"


def post_decision(broker_url, body, timeout=5):
    """Send body, a JSON decision request, to the broker's /v1/decisions.

    Returns the HTTP status and the response body as bytes, whatever the
    status. TLS and connection errors propagate as exceptions.
    """
    url = urllib.parse.urlsplit(broker_url)
    context = ssl.create_default_context(cafile=CA_FILE)
    context.load_cert_chain(CERT_FILE, KEY_FILE)
    connection = http.client.HTTPSConnection(url.hostname, url.port,
                                             context=context, timeout=timeout)
    try:
        connection.request("POST", "/v1/decisions", body,
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
