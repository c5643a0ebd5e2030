"""traefik/whoami's answer, as the lab's pods give it (app.go whoamiHandler + net/http Request.Write)."""

from kanslab.backends.local.podserver import whoami_body


def test_whoami_prints_every_address_then_the_request_as_go_writes_it():
    request = (b"GET /?x=1 HTTP/1.1\r\nHost: 172.16.158.3\r\nuser-agent: curl/7.81.0\r\n"
               b"Accept: */*\r\nx-b: 2\r\nX-A: 1\r\n\r\n")
    ips = ["127.0.0.1", "::1", "172.16.158.3", "fe80::f8fc:2fff:fe72:fb29"]
    body = whoami_body("webpod1", ips, ("172.16.116.0", 40312), request).decode()
    assert body == ("Hostname: webpod1\nIP: 127.0.0.1\nIP: ::1\nIP: 172.16.158.3\nIP: fe80::f8fc:2fff:fe72:fb29\n"
                    "RemoteAddr: 172.16.116.0:40312\n"
                    "GET /?x=1 HTTP/1.1\r\nHost: 172.16.158.3\r\nUser-Agent: curl/7.81.0\r\nAccept: */*\r\n"
                    "X-A: 1\r\nX-B: 2\r\n\r\n")


def test_a_request_without_user_agent_gets_gos_default():
    body = whoami_body("p", [], ("10.0.0.1", 1), b"GET / HTTP/1.0\r\nHost: p\r\n\r\n").decode()
    assert body.endswith("GET / HTTP/1.1\r\nHost: p\r\nUser-Agent: Go-http-client/1.1\r\n\r\n")
