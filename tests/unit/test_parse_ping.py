"""kanslab.parse.ping on real pings between two throwaway namespaces (data/make_parse_fixtures.sh):
iputils and busybox, replies, no reply at all, `Destination Host Unreachable`, and a ping that
could not start."""


import pandas as pd
import pytest

from kanslab.parse.ping import COLUMNS, ping

from .fixtures import assert_parse_error, real, sample


def parse_error(text):
    return assert_parse_error(ping, text)










def test_iputils_replies():
    df = ping(real("real_ping.txt"))
    assert list(df.columns) == COLUMNS
    assert df["icmp_seq"].tolist() == [1, 2, 3] and (df["type"] == "reply").all()
    assert (df["ttl"] == 64).all() and (df["bytes"] == 64).all() and (df["response_ip"] == "192.168.10.254").all()
    assert df["time_ms"].dtype == "float64" and (df["time_ms"] > 0).all()
    assert (df["destination"] == "192.168.10.254").all()
    assert (df["packets_transmitted"] == 3).all() and (df["packets_received"] == 3).all()
    assert (df["packet_loss_percent"] == 0.0).all() and not df["duplicate"].any()


def test_busybox_replies_start_at_seq_0():
    df = ping(real("real_ping_busybox.txt"))
    assert df["icmp_seq"].tolist() == [0, 1] and (df["type"] == "reply").all()
    assert (df["packets_received"] == 2).all() and (df["ttl"] == 64).all()


@pytest.mark.parametrize("name", ["real_ping_noreply.txt", "real_ping_busybox_noreply.txt"])
def test_no_reply_gives_one_summary_row(name):
    df = ping(real(name))
    assert len(df) == 1
    row = df.iloc[0]
    assert (row["packets_transmitted"], row["packets_received"], row["packet_loss_percent"]) == (2, 0, 100.0)
    assert row["destination"] == "192.168.10.99"
    for c in ("type", "icmp_seq", "ttl", "time_ms", "response_ip", "bytes"):
        assert pd.isna(row[c]), c


def test_destination_host_unreachable_rows():
    df = ping(real("real_ping_host_unreachable.txt"))
    assert df["type"].unique().tolist() == ["destination_host_unreachable"]
    assert df["icmp_seq"].tolist() == [1, 2, 3, 4, 5] and (df["response_ip"] == "192.168.10.101").all()
    assert (df["packets_received"] == 0).all() and (df["packet_loss_percent"] == 100.0).all()
    assert df["ttl"].isna().all()


def test_mixed_errors_and_replies_in_sequence_order():
    text = """\
PING 10.0.0.1 (10.0.0.1) 56(84) bytes of data.
From 192.168.10.101 icmp_seq=1 Destination Host Unreachable
64 bytes from 10.0.0.1: icmp_seq=2 ttl=63 time=0.512 ms
From 192.168.10.101 icmp_seq=3 Destination Net Unreachable

--- 10.0.0.1 ping statistics ---
3 packets transmitted, 1 received, +2 errors, 66.6667% packet loss, time 2030ms
rtt min/avg/max/mdev = 0.512/0.512/0.512/0.000 ms
"""
    df = ping(text)
    assert df["type"].tolist() == ["destination_host_unreachable", "reply", "destination_net_unreachable"]
    assert df["ttl"].tolist()[1] == 63 and df["packet_loss_percent"].tolist()[0] == pytest.approx(66.6667)


def test_prompts_kubectl_exec_crlf_colours_and_chatter():
    text = ("\x1b[01;32mroot@k8s-m\x1b[00m:~# kubectl exec pod1 -- ping -c 3 192.168.10.254\r\n"
            + real("real_ping.txt").replace("\n", "\r\n")
            + "root@k8s-m:~# date\r\nFri Nov 27 06:22:04 UTC 2026\r\n\r\n")
    pd.testing.assert_frame_equal(ping(text), ping(real("real_ping.txt")))
    lossy = "kubectl exec pod1 -- ping -c 2 192.168.10.99\n" + real("real_ping_noreply.txt") + \
        "command terminated with exit code 1\n"
    assert ping(lossy)["packets_received"].tolist() == [0]


def test_several_runs_one_after_the_other():
    text = ("root@k8s-m:~# ping -c 3 192.168.10.254\n" + real("real_ping.txt")
            + "root@k8s-m:~# ping -c 2 192.168.10.99\n" + real("real_ping_noreply.txt"))
    df = ping(text)
    assert df["destination"].tolist() == ["192.168.10.254"] * 3 + ["192.168.10.99"]
    assert df["packets_received"].tolist() == [3, 3, 3, 0]


# --- not a ping's statistics ----------------------------------------------------------------------


def test_ping_that_could_not_start_names_its_error():
    e = parse_error(real("real_ping_unreachable.txt"))
    assert "No route to host" in str(e) and e.lineno == 1


def test_interrupted_ping_without_statistics():
    head = real("real_ping.txt").split("\n---")[0]
    e = parse_error(head)
    assert "statistics" in str(e)


@pytest.mark.parametrize("other", ["real_route_n.txt", "real_ip_route.txt", "real_iptables_save.txt"])
def test_other_commands_are_rejected(other):
    e = parse_error(real(other))
    assert e.line is not None


def test_samples_and_empty_are_rejected():
    parse_error(sample("kubectl_get_pods_wide__ddella_allns.txt"))
    parse_error("")
    e = parse_error(real("real_ping.txt").replace("64 bytes from 192.168.10.254: icmp_seq=2",
                                                  "hello from the other side icmp_seq=2"))
    assert e.lineno == 3
